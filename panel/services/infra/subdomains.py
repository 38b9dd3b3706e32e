"""The subdomain policy, in one place: which names an app may have, and whether one is still free.

The grammar is `agents.protocol.label` (an RFC 1035 label, lowercase); on top of it the local policy
refuses reserved names, names that are too short, and names that pass for an official body.
"""
from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from agents import protocol
from panel.extensions import db
from panel.i18n import gettext as _
from panel.models import OPEN_STATUSES, App, HostingRequest
from panel.services.infra import dns
from panel.services.refused import Refused

if TYPE_CHECKING:
    from panel.models import Zone

DEFAULT_MIN_LENGTH = 3  # config SUBDOMAIN_MIN_LENGTH
MAX_LENGTH = 63  # RFC 1035

# Names the data center's own services use or that clients look up by convention.
INFRASTRUCTURE_NAMES = frozenset({
    "www", "mail", "email", "surel", "webmail", "mx", "smtp", "imap", "pop", "pop3", "ns", "ns1", "ns2",
    "dns", "ntp", "ldap", "ftp", "sftp", "cpanel", "whm", "plesk", "admin", "administrator", "root",
    "hostmaster", "postmaster", "webmaster", "abuse", "api", "panel", "wadah", "portal", "sso", "auth",
    "login", "vpn", "proxy", "wpad", "isatap", "localhost", "autodiscover", "autoconfig", "mta-sts",
    "_dmarc", "_domainkey",
})
INFRASTRUCTURE_PATTERN = re.compile(r"^(?:ns|mx|mail|smtp|imap|pop|www)\d+$")  # ns3, mx2, www2, ...
# Government-wide services a Pemda runs under these names (procurement, legal documents, ...).
GOVERNMENT_SERVICE_NAMES = frozenset({
    "lpse", "spse", "jdih", "ppid", "sirup", "sipd", "lapor", "satudata", "sakip", "spbe", "csirt",
    "tte", "bsre", "srikandi", "inaproc", "ekatalog", "e-katalog",
})
# Official bodies an app must not pass itself off as, anywhere in its name (also as "k0minfo").
OFFICIAL_BODY_WORDS = ("bssn", "kominfo", "komdigi", "polri", "kpk", "kemendagri")
# Words that contain one of those yet are the Pemda's own (config SUBDOMAIN_ALLOWED_WORDS).
DEFAULT_ALLOWED_WORDS = ("diskominfo",)
_LOOKALIKE = str.maketrans("013457", "oleast", "-")


class SubdomainRefused(Refused):
    """The policy forbids a subdomain; `reason` says why, in words fit to show the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def check_policy(name: str, extra_reserved: Iterable[str] = (), min_length: int = DEFAULT_MIN_LENGTH,
                 allowed_words: Iterable[str] = DEFAULT_ALLOWED_WORDS) -> str:
    """Return `name` if an app may use it as its subdomain, else raise SubdomainRefused."""
    if not isinstance(name, str) or not name:
        raise SubdomainRefused(_("Subdomain wajib diisi."))
    if len(name) > MAX_LENGTH:
        raise SubdomainRefused(_("Subdomain paling panjang %(max)d karakter (%(length)d diisi).",
                                 max=MAX_LENGTH, length=len(name)))
    try:
        protocol.label(name)
    except protocol.InvalidName:
        raise SubdomainRefused(_grammar_reason(name)) from None
    if len(name) < min_length:
        raise SubdomainRefused(_("Subdomain paling sedikit %(min)d karakter.", min=min_length))
    if name in INFRASTRUCTURE_NAMES or INFRASTRUCTURE_PATTERN.match(name):
        raise SubdomainRefused(_("Subdomain %(name)s dicadangkan untuk layanan infrastruktur "
                                 "(surel, DNS, panel, dan sejenisnya).", name=repr(name)))
    if name in GOVERNMENT_SERVICE_NAMES:
        raise SubdomainRefused(_("Subdomain %(name)s dicadangkan untuk layanan pemerintah "
                                 "(mis. LPSE, JDIH, PPID, SiRUP).", name=repr(name)))
    if name in {extra.strip().lower() for extra in extra_reserved}:
        raise SubdomainRefused(_("Subdomain %(name)s dicadangkan oleh pengelola pusat data.",
                                 name=repr(name)))
    word = _official_body_word(name, allowed_words)
    if word:
        raise SubdomainRefused(_("Subdomain %(name)s menyerupai nama instansi resmi (%(body)s); "
                                 "hubungi pengelola pusat data bila memang berhak memakainya.",
                                 name=repr(name), body=word.upper()))
    return name


def _grammar_reason(name: str) -> str:
    # label() decides; this only explains its refusal.
    if "." in name:
        return _("Isi satu label saja, tanpa titik (mis. 'dinkes', bukan 'dinkes.contoh.go.id').")
    if name != name.lower():
        return _("Gunakan huruf kecil saja.")
    if not re.fullmatch(r"[a-z0-9-]+", name):
        return _("Hanya huruf kecil a–z, angka 0–9 dan tanda hubung (-) yang boleh dipakai; "
                 "tanpa spasi, garis bawah, huruf beraksen atau simbol.")
    if not name[0].isalpha():
        return _("Subdomain harus diawali huruf a–z.")
    if name.endswith("-"):
        return _("Subdomain tidak boleh diakhiri tanda hubung.")
    return _("Tanda hubung ganda di posisi ke-3 dan ke-4 dicadangkan untuk nama internasional (xn--).")


def _official_body_word(name: str, allowed_words: Iterable[str]) -> str | None:
    folded = name.translate(_LOOKALIKE)
    for allowed in allowed_words:
        folded = folded.replace(allowed.lower().translate(_LOOKALIKE), " ")
    return next((word for word in OFFICIAL_BODY_WORDS if word in folded), None)


@dataclass(frozen=True)
class SubdomainPolicy:
    """The configurable part of the policy: extra reserved names, minimum length, allowed words."""

    extra_reserved: tuple[str, ...] = ()
    min_length: int = DEFAULT_MIN_LENGTH
    allowed_words: tuple[str, ...] = DEFAULT_ALLOWED_WORDS

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SubdomainPolicy:
        """Read the policy from the app config (a list, or a comma-separated string from the env)."""
        return cls(_names(config.get("RESERVED_SUBDOMAINS_EXTRA", ())),
                   int(config.get("SUBDOMAIN_MIN_LENGTH", DEFAULT_MIN_LENGTH)),
                   _names(config.get("SUBDOMAIN_ALLOWED_WORDS", DEFAULT_ALLOWED_WORDS)))

    def check(self, name: str) -> str:
        """Return `name` if the policy lets an app use it, else raise SubdomainRefused."""
        return check_policy(name, self.extra_reserved, self.min_length, self.allowed_words)


def _names(value: str | Iterable[str]) -> tuple[str, ...]:
    items = value.replace(",", " ").split() if isinstance(value, str) else value
    return tuple(str(item).strip().lower() for item in items if str(item).strip())


def held_in_wadah(name: str, zone: str | None = None, except_request_id: int | None = None) -> bool:
    """Return whether an app or an open hosting request already holds `name`, whatever its case."""
    wanted = name.strip().lower()
    apps = select(App.id).where(func.lower(App.subdomain) == wanted)
    if zone is not None:
        apps = apps.where(App.zone == zone)
    requests = select(HostingRequest.id).where(func.lower(HostingRequest.subdomain) == wanted,
                                               HostingRequest.status.in_(OPEN_STATUSES))
    if except_request_id is not None:
        requests = requests.where(HostingRequest.id != except_request_id)
    return (db.session.scalar(apps.limit(1)) is not None
            or db.session.scalar(requests.limit(1)) is not None)


def check_free_in_wadah(name: str, except_request_id: int | None = None) -> str:
    """Return `name` unless an app or another open request holds it, else raise SubdomainRefused."""
    if held_in_wadah(name, except_request_id=except_request_id):
        raise SubdomainRefused(_("Subdomain %(name)s sudah dipakai aplikasi atau permohonan lain di Wadah.",
                                 name=repr(name.strip().lower())))
    return name


class NameStatus(enum.StrEnum):
    AVAILABLE = "available"
    REFUSED = "refused"  # the policy forbids it
    TAKEN_IN_WADAH = "taken_in_wadah"  # an app or a hosting request already holds it
    TAKEN_IN_DNS = "taken_in_dns"  # the zone already has a record at that name
    UNCHECKED = "unchecked"  # the zone's server could not be asked: not known to be free


@dataclass(frozen=True)
class Availability:
    """Whether a subdomain is free for a new app, and if not, why (in words fit to show)."""

    name: str
    fqdn: str
    status: NameStatus
    reason: str = ""

    @property
    def available(self) -> bool:
        return self.status is NameStatus.AVAILABLE


def availability(name: str, zone: Zone | dns.ZoneAccess, taken_in_wadah: bool,
                 policy: SubdomainPolicy | None = None) -> Availability:
    """Check `name` against the policy, Wadah's own records and the zone's authoritative server."""
    fqdn = f"{name}.{zone.zone if isinstance(zone, dns.ZoneAccess) else zone.name}"
    try:
        (policy or SubdomainPolicy()).check(name)
        protocol.domain(fqdn)
    except SubdomainRefused as refused:
        return Availability(name, fqdn, NameStatus.REFUSED, refused.reason)
    except protocol.InvalidName:
        return Availability(name, fqdn, NameStatus.REFUSED,
                            _("Nama lengkap %(fqdn)s melebihi 253 karakter.", fqdn=fqdn))
    if taken_in_wadah:
        return Availability(name, fqdn, NameStatus.TAKEN_IN_WADAH,
                            _("Subdomain %(name)s sudah dipakai aplikasi atau permohonan lain di Wadah.",
                              name=repr(name)))
    try:
        access = zone if isinstance(zone, dns.ZoneAccess) else dns.ZoneAccess.from_zone(zone)
        taken = dns.name_exists(access, name)
    except dns.DnsError as error:
        return Availability(name, fqdn, NameStatus.UNCHECKED,
                            _("DNS belum dapat diperiksa: %(error)s", error=error))
    if taken:
        return Availability(name, fqdn, NameStatus.TAKEN_IN_DNS,
                            _("Nama %(fqdn)s sudah ada di DNS.", fqdn=fqdn))
    return Availability(name, fqdn, NameStatus.AVAILABLE)
