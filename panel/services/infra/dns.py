"""Authoritative DNS: ask a zone's primary about a name, add and remove app records (RFC 2136 + TSIG).

Flask-free: every function takes a `ZoneAccess`, the settings of one zone. Every message is signed
with the zone's TSIG key and sent over TCP, so answers are authenticated and a closed port fails at
once instead of after a timeout.
"""
from __future__ import annotations

import base64
import binascii
import ipaddress
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.tsig
import dns.update

from agents import protocol
from panel.i18n import gettext as _

if TYPE_CHECKING:
    from panel.models import Zone

logger = logging.getLogger(__name__)

QUERY_TIMEOUT_S = 3.0  # one query, connect included: a step-5 check must not hang its page
UPDATE_TIMEOUT_S = 10.0  # one update: the primary writes its journal before it answers
DEFAULT_PORT = 53
DEFAULT_TTL = 300
TSIG_ALGORITHMS = ("hmac-sha256", "hmac-sha384", "hmac-sha512", "hmac-sha224")

# What the server's TSIG error means, by the exception dnspython raises for it.
_TSIG_ERRORS: dict[type[Exception], str] = {
    dns.tsig.PeerBadKey: "BADKEY",
    dns.tsig.PeerBadSignature: "BADSIG",
    dns.tsig.PeerBadTime: "BADTIME",
    dns.tsig.PeerBadTruncation: "BADTRUNC",
}


class DnsError(Exception):
    """The zone's primary server could not be asked, or did not do what it was asked."""


class InvalidZoneSettings(DnsError, ValueError):
    """A zone's settings (server address, zone name, TSIG key) cannot be used as they are."""


class DnsUnreachable(DnsError):
    """The primary server did not answer: nothing listens there, or it timed out."""


class DnsRefused(DnsError):
    """The primary server answered with an error (REFUSED, NOTAUTH, a TSIG error, ...)."""

    def __init__(self, message: str, rcode: str) -> None:
        super().__init__(message)
        self.rcode = rcode


class NameTaken(DnsError):
    """The name already holds a record, so the update adding one was not applied."""


@dataclass(frozen=True)
class ZoneAccess:
    """What it takes to ask and update one zone's primary server."""

    host: str  # an IP address: dnspython resolves no host names
    port: int
    zone: str
    key_name: str
    secret: str = field(repr=False)  # base64
    algorithm: str = "hmac-sha256"

    def __post_init__(self) -> None:
        try:
            ipaddress.ip_address(self.host)
        except ValueError:
            raise InvalidZoneSettings(_("Alamat server DNS harus berupa alamat IP: %(host)s",
                                        host=repr(self.host))) from None
        if not 0 < self.port < 65536:
            raise InvalidZoneSettings(_("Port server DNS tidak sah: %(port)s", port=self.port))
        try:
            protocol.domain(self.zone)
        except protocol.InvalidName:
            raise InvalidZoneSettings(_("Nama zona tidak sah: %(zone)s", zone=repr(self.zone))) from None
        if self.algorithm not in TSIG_ALGORITHMS:
            raise InvalidZoneSettings(_("Algoritme TSIG tidak didukung: %(algorithm)s (pilih %(choices)s)",
                                        algorithm=repr(self.algorithm), choices=", ".join(TSIG_ALGORITHMS)))
        try:
            secret = base64.b64decode(self.secret, validate=True)
        except (binascii.Error, ValueError):
            secret = b""
        if not secret:  # the message never quotes the secret
            raise InvalidZoneSettings(_("Rahasia kunci TSIG %(key)s bukan base64 yang sah",
                                        key=repr(self.key_name)))

    @classmethod
    def from_zone(cls, zone: Zone) -> ZoneAccess:
        """Build the access settings of a `Zone` row (its secret is decrypted on load)."""
        host, port = parse_server(zone.primary_server)
        return cls(host, port, zone.name, zone.tsig_key_name, zone.tsig_secret, zone.tsig_algorithm)

    @property
    def server(self) -> str:
        """Return the server as people write it, for messages."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def key(self) -> dns.tsig.Key:
        """Return the TSIG key (its repr shows the secret: never log it)."""
        return dns.tsig.Key(self.key_name, self.secret, self.algorithm)


def parse_server(text: str) -> tuple[str, int]:
    """Split "host:port", "[v6]:port" or a bare address (port 53) into host and port."""
    text = text.strip()
    try:
        if text.startswith("["):
            host, _bracket, port = text[1:].partition("]")
            return host, int(port.removeprefix(":") or DEFAULT_PORT)
        if text.count(":") == 1:
            host, _colon, port = text.partition(":")
            return host, int(port)
    except ValueError:
        raise InvalidZoneSettings(_("Server DNS tidak sah (harus host:port): %(server)s",
                                    server=repr(text))) from None
    return text, DEFAULT_PORT


def name_exists(access: ZoneAccess, label: str) -> bool:
    """Return whether any record of any type exists at subdomain `label`, asking the primary."""
    # NXDOMAIN means no record of any type at the name; NOERROR covers an answer, a CNAME, NODATA
    # (e.g. only a TXT record), a delegation and an empty non-terminal: all of which are taken.
    fqdn = _fqdn(access, label)
    query = dns.message.make_query(fqdn, dns.rdatatype.A)
    query.use_tsig(access.key())
    reply = _send(access, query, QUERY_TIMEOUT_S)
    if reply.rcode() == dns.rcode.NXDOMAIN and reply.flags & dns.flags.AA:
        return False
    if reply.rcode() == dns.rcode.NOERROR:
        return True
    raise _refused(access, reply, _("pertanyaan tentang %(name)s", name=fqdn))


def add_address(access: ZoneAccess, label: str, ip: str, ttl: int = DEFAULT_TTL) -> None:
    """Point subdomain `label` at `ip` (A or AAAA), only if no record of any type exists there yet."""
    fqdn = _fqdn(access, label)
    rdtype, address = _address(ip)
    if not 0 < ttl < 2**31:
        raise ValueError(_("TTL tidak sah: %(ttl)s", ttl=ttl))
    update = _update(access)
    # The prerequisite lets the server itself settle two panels racing for the same name.
    update.absent(label)
    update.add(label, ttl, rdtype, address)
    reply = _send(access, update, UPDATE_TIMEOUT_S)
    if reply.rcode() == dns.rcode.YXDOMAIN:
        raise NameTaken(_("Nama %(name)s sudah terdaftar di DNS; rekaman baru tidak ditambahkan.", name=fqdn))
    if reply.rcode() != dns.rcode.NOERROR:
        raise _refused(access, reply, _("penambahan rekaman %(name)s", name=fqdn))
    logger.info("DNS record added: %s %s %s (TTL %s)", fqdn, rdtype.name, address, ttl)


def remove_address(access: ZoneAccess, label: str, ip: str | None = None) -> None:
    """Delete the A and AAAA records of subdomain `label` (only `ip` if given); absent ones are fine."""
    fqdn = _fqdn(access, label)
    update = _update(access)
    if ip is None:
        update.delete(label, dns.rdatatype.A)
        update.delete(label, dns.rdatatype.AAAA)
    else:
        update.delete(label, *_address(ip))
    reply = _send(access, update, UPDATE_TIMEOUT_S)
    if reply.rcode() != dns.rcode.NOERROR:
        raise _refused(access, reply, _("penghapusan rekaman %(name)s", name=fqdn))
    logger.info("DNS records removed: %s %s", fqdn, ip or "A/AAAA")


def probe(access: ZoneAccess) -> int:
    """Check the primary serves the zone, knows the key and lets it update; return the SOA serial."""
    query = dns.message.make_query(access.zone, dns.rdatatype.SOA)
    query.use_tsig(access.key())
    reply = _send(access, query, QUERY_TIMEOUT_S)
    if reply.rcode() != dns.rcode.NOERROR:
        raise _refused(access, reply, _("pertanyaan SOA zona %(zone)s", zone=access.zone))
    soa = reply.get_rrset(reply.answer, dns.name.from_text(access.zone), dns.rdataclass.IN,
                          dns.rdatatype.SOA)
    if soa is None or not reply.flags & dns.flags.AA:
        raise DnsRefused(_("Server DNS %(server)s tidak otoritatif untuk zona %(zone)s.",
                           server=access.server, zone=access.zone), rcode="NOERROR")
    # An update with only a prerequisite tests the key's right to update and changes nothing.
    update = _update(access)
    update.present("@", dns.rdatatype.SOA)
    reply = _send(access, update, UPDATE_TIMEOUT_S)
    if reply.rcode() != dns.rcode.NOERROR:
        raise _refused(access, reply, _("uji pembaruan zona %(zone)s", zone=access.zone))
    return int(soa[0].serial)


def _fqdn(access: ZoneAccess, label: str) -> str:
    return f"{protocol.label(label)}.{access.zone}"


def _address(ip: str) -> tuple[dns.rdatatype.RdataType, str]:
    address = ipaddress.ip_address(ip)
    return (dns.rdatatype.A if address.version == 4 else dns.rdatatype.AAAA), str(address)


def _update(access: ZoneAccess) -> dns.update.UpdateMessage:
    update = dns.update.UpdateMessage(access.zone)
    update.use_tsig(access.key())
    return update


def _send(access: ZoneAccess, message: dns.message.Message, timeout: float) -> dns.message.Message:
    try:
        return dns.query.tcp(message, access.host, port=access.port, timeout=timeout)
    except dns.tsig.PeerError as error:
        code = _TSIG_ERRORS.get(type(error), "TSIG")
        if code == "BADTIME":
            refusal = _("Server DNS %(server)s menjawab NOTAUTH (%(code)s): jam panel dan server berselisih "
                        "terlalu jauh.", server=access.server, code=code)
        else:
            refusal = _("Server DNS %(server)s menjawab NOTAUTH (%(code)s): kunci TSIG %(key)s ditolak.",
                        server=access.server, code=code, key=repr(access.key_name))
        raise DnsRefused(refusal, rcode=f"NOTAUTH/{code}") from error
    except (dns.exception.Timeout, OSError, EOFError) as error:
        reason = _("waktu habis") if isinstance(error, dns.exception.Timeout) else str(error)
        raise DnsUnreachable(_("Server DNS %(server)s tidak dapat dihubungi: %(reason)s.",
                               server=access.server, reason=reason)) from error
    except dns.exception.DNSException as error:  # e.g. an answer whose signature does not verify
        raise DnsError(_("Jawaban server DNS %(server)s tidak sah: %(error)s", server=access.server,
                         error=error)) from error


def _refused(access: ZoneAccess, reply: dns.message.Message, what: str) -> DnsRefused:
    rcode = dns.rcode.to_text(reply.rcode())
    # An NXDOMAIN without the AA flag comes from a server that does not hold the zone.
    unauthoritative = reply.rcode() == dns.rcode.NXDOMAIN and not reply.flags & dns.flags.AA
    if unauthoritative:
        return DnsRefused(_("Server DNS %(server)s menjawab %(rcode)s tanpa AA (bukan server otoritatif) "
                            "untuk %(what)s.", server=access.server, rcode=rcode, what=what), rcode)
    return DnsRefused(_("Server DNS %(server)s menjawab %(rcode)s untuk %(what)s.", server=access.server,
                        rcode=rcode, what=what), rcode)
