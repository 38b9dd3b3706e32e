"""The subdomain policy and the availability check (policy, Wadah's records, the zone's server)."""
from __future__ import annotations

import base64
import secrets
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from panel.models import Zone
from panel.services.infra import dns
from panel.services.infra.subdomains import (
    NameStatus,
    SubdomainPolicy,
    SubdomainRefused,
    availability,
    check_policy,
)

SECRET = base64.b64encode(b"x" * 32).decode()


def dead_zone() -> dns.ZoneAccess:
    """Return settings of a zone whose server is a closed port: any question to it fails."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return dns.ZoneAccess("127.0.0.1", port, "contoh.go.id", "wadah-update", SECRET)


@pytest.mark.parametrize("name", ["dinkes", "disdukcapil", "sim-rs", "e-kinerja", "abc", "a1b", "x" * 63,
                                  "diskominfo", "diskominfotik", "bpkad"])
def test_acceptable_names(name: str) -> None:
    assert check_policy(name) == name


@pytest.mark.parametrize(("name", "reason"), [
    ("", "wajib diisi"),
    ("Dinkes", "huruf kecil"),
    ("din_kes", "garis bawah"),
    ("din kes", "tanpa spasi"),
    ("dînkes", "huruf beraksen"),
    ("ديناس", "huruf beraksen"),
    ("-dinkes", "diawali huruf"),
    ("1dinkes", "diawali huruf"),
    ("dinkes-", "diakhiri tanda hubung"),
    ("xn--dnkes-cua", "xn--"),
    ("x" * 64, "paling panjang 63"),
    ("a..b", "tanpa titik"),
    ("dinkes.", "tanpa titik"),
    ("dinkes.contoh.go.id", "tanpa titik"),
    ("ab", "paling sedikit 3"),
])
def test_invalid_names_are_refused_with_a_reason(name: str, reason: str) -> None:
    with pytest.raises(SubdomainRefused) as refused:
        check_policy(name)
    assert reason in refused.value.reason


@pytest.mark.parametrize("name", ["www", "mail", "webmail", "smtp", "ns1", "ns7", "mx2", "admin", "root",
                                  "api", "panel", "wadah", "portal", "sso", "vpn", "localhost",
                                  "autodiscover", "autoconfig", "cpanel", "mta-sts"])
def test_infrastructure_names_are_reserved(name: str) -> None:
    with pytest.raises(SubdomainRefused, match="infrastruktur"):
        check_policy(name)


@pytest.mark.parametrize("name", ["lpse", "jdih", "ppid", "sirup", "spse", "csirt"])
def test_government_service_names_are_reserved(name: str) -> None:
    with pytest.raises(SubdomainRefused, match="layanan pemerintah"):
        check_policy(name)


def test_extra_reserved_names_come_from_the_config() -> None:
    policy = SubdomainPolicy.from_config({"RESERVED_SUBDOMAINS_EXTRA": ["Simpeg", "siskeudes"]})
    for name in ("simpeg", "siskeudes"):
        with pytest.raises(SubdomainRefused, match="pengelola"):
            policy.check(name)
    assert policy.check("dinkes") == "dinkes"
    from_env = SubdomainPolicy.from_config({"RESERVED_SUBDOMAINS_EXTRA": "simpeg, siskeudes",
                                            "SUBDOMAIN_MIN_LENGTH": "2"})
    assert from_env.extra_reserved == ("simpeg", "siskeudes")
    assert from_env.check("rs") == "rs"
    assert SubdomainPolicy.from_config({}) == SubdomainPolicy()


def test_minimum_length_is_configurable() -> None:
    assert check_policy("rs", min_length=2) == "rs"
    with pytest.raises(SubdomainRefused, match="paling sedikit 5"):
        check_policy("rsud", min_length=5)


@pytest.mark.parametrize("name", ["bssn", "bssn-pemda", "kominfo", "kominfo-pusat", "k0minfo", "kom-info",
                                  "polri", "polres-polri", "kpk", "lapor-kpk", "komdigi"])
def test_names_passing_for_an_official_body_are_refused(name: str) -> None:
    with pytest.raises(SubdomainRefused, match="instansi resmi"):
        check_policy(name)


def test_an_allowed_word_lifts_the_look_alike_refusal() -> None:
    assert check_policy("diskominfo-kab") == "diskominfo-kab"
    assert check_policy("saber-kpk", allowed_words=["saber-kpk"]) == "saber-kpk"
    with pytest.raises(SubdomainRefused):
        check_policy("diskominfo", allowed_words=())


def test_refused_names_never_reach_dns() -> None:
    zone = dead_zone()
    for name in ("www", "Dinkes", "ab"):
        result = availability(name, zone, taken_in_wadah=False)
        assert result.status is NameStatus.REFUSED and not result.available and result.reason


def test_a_name_held_in_wadah_is_taken_without_asking_dns() -> None:
    result = availability("dinkes", dead_zone(), taken_in_wadah=True)
    assert result.status is NameStatus.TAKEN_IN_WADAH
    assert "dinkes" in result.reason


def test_an_unreachable_server_leaves_the_name_unchecked() -> None:
    result = availability("dinkes", dead_zone(), taken_in_wadah=False)
    assert result.status is NameStatus.UNCHECKED and not result.available
    assert "tidak dapat dihubungi" in result.reason


def test_policy_from_config_applies_to_availability() -> None:
    policy = SubdomainPolicy(extra_reserved=("dinkes",))
    result = availability("dinkes", dead_zone(), taken_in_wadah=False, policy=policy)
    assert result.status is NameStatus.REFUSED


@pytest.fixture
def zone_row(dns_zone: dict[str, Any]) -> Zone:
    return Zone(name=dns_zone["zone"], primary_server=f"{dns_zone['host']}:{dns_zone['port']}",
                tsig_key_name=dns_zone["key_name"], tsig_algorithm=dns_zone["algorithm"],
                tsig_secret=dns_zone["secret"], record_ip="127.0.0.1", ttl=300)


@pytest.fixture
def label(zone_row: Zone) -> Iterator[str]:
    name = f"t{secrets.token_hex(6)}"
    yield name
    dns.remove_address(dns.ZoneAccess.from_zone(zone_row), name)


def test_free_and_taken_names_in_the_zone(zone_row: Zone, label: str) -> None:
    free = availability(label, zone_row, taken_in_wadah=False)
    assert free.available and free.status is NameStatus.AVAILABLE
    assert free.fqdn == f"{label}.contoh.go.id"
    dns.add_address(dns.ZoneAccess.from_zone(zone_row), label, zone_row.record_ip, zone_row.ttl)
    taken = availability(label, zone_row, taken_in_wadah=False)
    assert taken.status is NameStatus.TAKEN_IN_DNS and not taken.available
    assert taken.fqdn in taken.reason
