"""The DNS service against the testbed's BIND 9: queries, TSIG-signed updates, races and failures."""
from __future__ import annotations

import base64
import logging
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.tsig
import dns.update
import pytest

from agents.protocol import InvalidName
from panel.models import Zone
from panel.services.infra.dns import (
    DnsError,
    DnsRefused,
    DnsUnreachable,
    InvalidZoneSettings,
    NameTaken,
    ZoneAccess,
    add_address,
    name_exists,
    parse_server,
    probe,
    remove_address,
)

WRONG_SECRET = base64.b64encode(b"not-the-key-named-knows-0123456").decode()


@pytest.fixture
def access(dns_zone: dict[str, Any]) -> ZoneAccess:
    return ZoneAccess(dns_zone["host"], dns_zone["port"], dns_zone["zone"], dns_zone["key_name"],
                      dns_zone["secret"], dns_zone["algorithm"])


@pytest.fixture
def fresh(access: ZoneAccess) -> Iterator[Callable[[], str]]:
    """Hand out random labels and delete whatever records they hold afterwards."""
    handed: list[str] = []

    def make() -> str:
        handed.append(f"t{secrets.token_hex(6)}")
        return handed[-1]

    yield make
    for label in handed:
        update = dns.update.UpdateMessage(access.zone)
        update.delete(label)
        update.use_tsig(access.key())
        dns.query.tcp(update, access.host, port=access.port, timeout=5)


def records(access: ZoneAccess, label: str, rdtype: str = "A") -> set[str]:
    """Ask the server directly, without the module under test."""
    query = dns.message.make_query(f"{label}.{access.zone}", rdtype)
    reply = dns.query.tcp(query, access.host, port=access.port, timeout=5)
    return {rdata.to_text() for rrset in reply.answer for rdata in rrset}


def add_txt(access: ZoneAccess, label: str) -> None:
    update = dns.update.UpdateMessage(access.zone)
    update.add(label, 300, "TXT", '"v=spf1 -all"')
    update.use_tsig(access.key())
    reply = dns.query.tcp(update, access.host, port=access.port, timeout=5)
    assert reply.rcode() == dns.rcode.NOERROR


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_existing_and_missing_names(access: ZoneAccess, fresh: Callable[[], str]) -> None:
    assert name_exists(access, "ns")
    assert not name_exists(access, fresh())


def test_a_name_with_only_a_txt_record_is_taken(access: ZoneAccess, fresh: Callable[[], str]) -> None:
    label = fresh()
    add_txt(access, label)
    assert name_exists(access, label)
    with pytest.raises(NameTaken):
        add_address(access, label, "127.0.0.10")
    assert records(access, label) == set()


def test_add_resolves_then_remove(access: ZoneAccess, fresh: Callable[[], str]) -> None:
    label = fresh()
    add_address(access, label, "127.0.0.10", ttl=120)
    assert records(access, label) == {"127.0.0.10"}
    assert name_exists(access, label)
    remove_address(access, label)
    assert records(access, label) == set()
    assert not name_exists(access, label)
    remove_address(access, label)  # removing what is gone is no error: retries and rollbacks


def test_ipv6_address_becomes_aaaa(access: ZoneAccess, fresh: Callable[[], str]) -> None:
    label = fresh()
    add_address(access, label, "::1")
    assert records(access, label, "AAAA") == {"::1"}
    remove_address(access, label, "::1")
    assert not name_exists(access, label)


def test_remove_one_address_keeps_other_records(access: ZoneAccess, fresh: Callable[[], str]) -> None:
    label = fresh()
    add_address(access, label, "127.0.0.10")
    remove_address(access, label, "127.0.0.99")  # not that name's address: nothing happens
    assert records(access, label) == {"127.0.0.10"}
    add_txt(access, label)
    remove_address(access, label, "127.0.0.10")
    assert records(access, label) == set()
    assert name_exists(access, label)  # the TXT record is not Wadah's to remove


def test_adding_an_existing_name_is_refused_and_keeps_the_record(
        access: ZoneAccess, fresh: Callable[[], str]) -> None:
    label = fresh()
    add_address(access, label, "127.0.0.10")
    with pytest.raises(NameTaken, match=label):
        add_address(access, label, "127.0.0.11")
    assert records(access, label) == {"127.0.0.10"}
    with pytest.raises(NameTaken):
        add_address(access, "ns", "127.0.0.11")
    assert records(access, "ns") == {"127.0.0.1"}


def test_wrong_secret_is_refused_and_changes_nothing(
        access: ZoneAccess, fresh: Callable[[], str], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    label = fresh()
    wrong = replace(access, secret=WRONG_SECRET)
    with pytest.raises(DnsRefused, match="NOTAUTH") as refused:
        add_address(wrong, label, "127.0.0.10")
    assert refused.value.rcode == "NOTAUTH/BADSIG"
    assert not name_exists(access, label)
    for call in (lambda: probe(wrong), lambda: name_exists(wrong, label),
                 lambda: remove_address(wrong, "ns")):
        with pytest.raises(DnsRefused):
            call()
    assert records(access, "ns") == {"127.0.0.1"}
    for secret in (WRONG_SECRET, access.secret):
        assert secret not in str(refused.value) and secret not in caplog.text
        assert secret not in repr(access) and secret not in repr(wrong)


def test_unknown_key_name_is_refused(access: ZoneAccess, fresh: Callable[[], str]) -> None:
    with pytest.raises(DnsRefused, match="BADKEY"):
        add_address(replace(access, key_name="bukan-kunci"), fresh(), "127.0.0.10")


def test_unreachable_server_fails_fast() -> None:
    dead = ZoneAccess("127.0.0.1", closed_port(), "contoh.go.id", "wadah-update", WRONG_SECRET)
    for call in (lambda: name_exists(dead, "dinkes"), lambda: add_address(dead, "dinkes", "127.0.0.10"),
                 lambda: remove_address(dead, "dinkes"), lambda: probe(dead)):
        started = time.monotonic()
        with pytest.raises(DnsUnreachable, match="tidak dapat dihubungi"):
            call()
        assert time.monotonic() - started < 1


def test_probe_reports_the_serial_and_changes_nothing(access: ZoneAccess) -> None:
    serial = probe(access)
    assert serial > 0
    assert probe(access) == serial


def test_probe_of_a_zone_the_server_does_not_serve_is_refused(access: ZoneAccess) -> None:
    with pytest.raises(DnsRefused, match="REFUSED|NOTAUTH"):
        probe(replace(access, zone="lain.go.id"))


def race(access: ZoneAccess, label: str, ips: tuple[str, ...]) -> list[str]:
    """Add `label` from one thread per address at the same instant; return what each got."""
    barrier = threading.Barrier(len(ips))
    outcomes: list[str] = []

    def claim(ip: str) -> None:
        barrier.wait()
        try:
            add_address(access, label, ip)
            outcomes.append(ip)
        except NameTaken:
            outcomes.append("taken")

    threads = [threading.Thread(target=claim, args=(ip,)) for ip in ips]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    return outcomes


def test_two_panels_racing_for_one_name(access: ZoneAccess, fresh: Callable[[], str]) -> None:
    for _ in range(5):
        label = fresh()
        outcomes = race(access, label, ("127.0.0.21", "127.0.0.22"))
        assert len(outcomes) == 2 and outcomes.count("taken") == 1
        winner = next(ip for ip in outcomes if ip != "taken")
        assert records(access, label) == {winner}


@pytest.mark.parametrize("label", ["", "Dinkes", "din_kes", "-dinkes", "a..b", "dinkes.", "x" * 64,
                                   "dinkes.contoh.go.id", "dînkes"])
def test_names_are_validated_before_anything_is_sent(label: str) -> None:
    dead = ZoneAccess("127.0.0.1", closed_port(), "contoh.go.id", "wadah-update", WRONG_SECRET)
    for call in (name_exists, remove_address):
        with pytest.raises(InvalidName):
            call(dead, label)
    with pytest.raises(InvalidName):
        add_address(dead, label, "127.0.0.10")


def test_zone_access_from_a_zone_row() -> None:
    zone = Zone(name="contoh.go.id", primary_server="127.0.0.1:15353", tsig_key_name="wadah-update",
                tsig_algorithm="hmac-sha256", tsig_secret=WRONG_SECRET, record_ip="127.0.0.1", ttl=300)
    access = ZoneAccess.from_zone(zone)
    assert (access.host, access.port, access.zone, access.secret) == (
        "127.0.0.1", 15353, "contoh.go.id", WRONG_SECRET)
    assert WRONG_SECRET not in repr(access)


@pytest.mark.parametrize(("text", "expected"), [
    ("127.0.0.1:15353", ("127.0.0.1", 15353)), ("192.0.2.1", ("192.0.2.1", 53)),
    ("[::1]:5353", ("::1", 5353)), ("[::1]", ("::1", 53)), ("::1", ("::1", 53)),
])
def test_parse_server(text: str, expected: tuple[str, int]) -> None:
    assert parse_server(text) == expected


@pytest.mark.parametrize("changes", [
    {"host": "ns.contoh.go.id"}, {"port": 0}, {"zone": "Contoh.go.id"}, {"algorithm": "hmac-md5"},
    {"secret": "bukan base64!"}, {"secret": ""},
])
def test_unusable_zone_settings_are_refused(changes: dict[str, Any]) -> None:
    settings = {"host": "127.0.0.1", "port": 53, "zone": "contoh.go.id", "key_name": "wadah-update",
                "secret": WRONG_SECRET} | changes
    with pytest.raises(InvalidZoneSettings) as refused:
        ZoneAccess(**settings)
    assert isinstance(refused.value, DnsError)
    assert "bukan base64!" not in str(refused.value)
