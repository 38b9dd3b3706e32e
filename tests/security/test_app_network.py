"""A hosted app's own code, compromised, opens connections from its container (THREATS.md, attacker
1): with the agent's rules (agents/firewall.py) it reaches neither this host (a service on 0.0.0.0,
one on its bridge's gateway, MariaDB's and nginx's TCP ports, the agent's API port) nor a management
network nor another app, while the same listeners answer the host and a container outside the app
pool. Traffic goes only to the testbed's own bridge addresses and containers.
"""
from __future__ import annotations

import ipaddress
import json
import os
import secrets
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import docker
import pytest
from docker.models.containers import Container

from agents import defaults
from agents.firewall import AppFirewall, FirewallSettings, host_resolvers, ipv4_networks
from agents.runtime import Runtime
from tests.agents.support import make_host, unique
from tests.support import unavailable

pytestmark = pytest.mark.slow

IMAGE = defaults.RUNTIME_IMAGES["php"]
APP_USER = f"{defaults.APP_UID}:{defaults.APP_GID}"
PORT = 8080
REFUSED = "111 "  # ECONNREFUSED: the rules answer with a reset, so an app fails at once
# A slice of the pool no app network gets before the other 4,095: the convergence test's own rules.
TEST_POOL = ipaddress.IPv4Network("10.213.255.240/28")

# Tries to connect to each [label, host, port] and prints what happened, as JSON.
PROBE = r"""
$seen = [];
foreach (json_decode(getenv("TARGETS"), true) as [$label, $host, $port]) {
    $socket = @fsockopen($host, $port, $errno, $errstr, 5.0);
    if ($socket) { fclose($socket); }
    $seen[$label] = $socket ? "open" : "$errno $errstr";
}
$seen["ipv6"] = trim((string) @file_get_contents("/proc/net/if_inet6"));
echo json_encode($seen);
"""
# Accepts connections on PORT and prints each peer's address.
LISTEN = r"""
$server = stream_socket_server("tcp://0.0.0.0:8080", $errno, $errstr);
fwrite(STDOUT, "listening\n");
while (true) {
    $client = @stream_socket_accept($server, 3600, $peer);
    if ($client) { fwrite(STDOUT, "peer $peer\n"); fclose($client); }
}
"""


def need_iptables() -> None:
    if os.geteuid() != 0 or shutil.which(defaults.IPTABLES) is None:
        unavailable("the app network's rules need root and iptables (the testbed runs as root)")


def iptables(*args: str, check: bool = True) -> str:
    result = subprocess.run([defaults.IPTABLES, "-w", "10", *args], capture_output=True, text=True,
                            timeout=30, check=False)
    if check:
        assert result.returncode == 0, result.stderr
    return result.stdout


class HostListener:
    """A TCP listener of the test's own on this host, recording who connected."""

    def __init__(self, address: str) -> None:
        self.socket = socket.socket()
        self.socket.bind((address, 0))
        self.socket.listen(16)
        self.socket.settimeout(0.2)
        self.port = int(self.socket.getsockname()[1])
        self.peers: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, peer = self.socket.accept()
            except OSError:
                continue
            self.peers.append(peer[0])
            connection.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.socket.close()


@pytest.fixture(scope="module")
def app_firewall(testbed: dict[str, dict[str, Any]]) -> Iterator[AppFirewall]:
    """The agent's rules with its default settings, as `wadah agent run` installs them."""
    need_iptables()
    firewall = AppFirewall()
    existed = firewall.exists()  # another agent on this testbed may have installed them already
    assert firewall.ensure().installed
    yield firewall
    if not existed:
        firewall.remove()


@pytest.fixture(scope="module")
def runtime(docker_client: docker.DockerClient, runtime_images: dict[str, Any]) -> Iterator[Runtime]:
    """Docker as the agent drives it, under an owner of this module's own."""
    runtime = Runtime(docker_client, unique("security"))
    yield runtime
    for container in runtime.owned():
        container.remove(force=True)
    for app in runtime.owned_networks().values():
        runtime.remove_network(app)


def hardened(runtime: Runtime, app: str, network: str, script: str,
             env: dict[str, str] | None = None) -> Container:
    """Start `php -r script` as the app's user, with the hardening every app container gets."""
    container: Container = runtime.client.containers.run(
        IMAGE, entrypoint=["php", "-r", script], environment=env or {}, user=APP_USER,
        name=f"{defaults.NAME_PREFIX}-{app}", labels=runtime.labels(app), network=network,
        cap_drop=["ALL"], security_opt=["no-new-privileges:true"], read_only=True,
        mem_limit="64m", pids_limit=32, detach=True)
    return container


def listening(runtime: Runtime, app: str, network: str) -> tuple[Container, str]:
    """Start a listener container on `network`; return it and its address there."""
    container = hardened(runtime, app, network, LISTEN)
    deadline = time.monotonic() + 60
    while b"listening" not in container.logs(stdout=True, stderr=False):
        assert time.monotonic() < deadline, container.logs().decode(errors="replace")
        time.sleep(0.1)
    container.reload()
    return container, container.attrs["NetworkSettings"]["Networks"][network]["IPAddress"]


def probe(runtime: Runtime, app: str, network: str,
          targets: dict[str, tuple[str, int]]) -> dict[str, str]:
    """Connect from a fresh container on `network` to each target; return what happened."""
    payload = json.dumps([[label, host, port] for label, (host, port) in targets.items()])
    container = hardened(runtime, app, network, PROBE, {"TARGETS": payload})
    try:
        assert container.wait(timeout=120)["StatusCode"] == 0, container.logs()
        seen: dict[str, str] = json.loads(container.logs(stdout=True, stderr=False))
        return seen
    finally:
        container.remove(force=True)


def peers(container: Container) -> list[str]:
    lines = container.logs(stdout=True, stderr=False).decode().splitlines()
    return [line.split()[1].rpartition(":")[0] for line in lines if line.startswith("peer ")]


def gateway(client: docker.DockerClient, network: str) -> str:
    config = client.networks.get(network).attrs["IPAM"]["Config"][0]
    if config.get("Gateway"):
        return str(config["Gateway"])
    return str(next(ipaddress.ip_network(config["Subnet"]).hosts()))


def connects(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=5).close()
    except OSError:
        return False
    return True


def port_of(address: str) -> int:
    return int(address.rpartition(":")[2])


def test_an_app_reaches_neither_the_host_nor_the_data_center_nor_another_app(
        testbed: dict[str, dict[str, Any]], runtime: Runtime, app_firewall: AppFirewall) -> None:
    app_a, app_b = unique("fw-a"), unique("fw-b")
    network_a, network_b = runtime.ensure_network(app_a), runtime.ensure_network(app_b)
    gateway_a = gateway(runtime.client, network_a)
    bridge_gateway = gateway(runtime.client, "bridge")  # the testbed's own bridge, outside the pool
    anywhere, on_gateway = HostListener("0.0.0.0"), HostListener(gateway_a)  # noqa: S104
    try:
        other_app, other_app_ip = listening(runtime, app_b, network_b)
        # The testbed's bridge is private (172.16.0.0/12), as a data center's management network is.
        office, office_ip = listening(runtime, unique("fw-office"), "bridge")
        targets = {
            "host: 0.0.0.0 listener at the app's gateway": (gateway_a, anywhere.port),
            "host: 0.0.0.0 listener at another bridge address": (bridge_gateway, anywhere.port),
            "host: listener on the app's gateway address": (gateway_a, on_gateway.port),
            "host: MariaDB's TCP port": (gateway_a, port_of(testbed["mariadb"]["tcp"])),
            "host: nginx's port": (gateway_a, port_of(testbed["nginx"]["http"])),
            "host: the agent API's port": (gateway_a, port_of(defaults.LISTEN)),
            "another app's container": (other_app_ip, PORT),
            "a container on a management network": (office_ip, PORT),
        }
        from_app = probe(runtime, unique("fw-probe"), network_a, targets)
        from_outside = probe(runtime, unique("fw-outside"), "bridge", targets)
        from_host = {label: connects(host, port) for label, (host, port) in targets.items()}
    finally:
        anywhere.close()
        on_gateway.close()

    # Each listener answers the host and a container outside the app pool: the probe can succeed.
    for label in ("host: 0.0.0.0 listener at the app's gateway",
                  "host: 0.0.0.0 listener at another bridge address",
                  "host: listener on the app's gateway address",
                  "another app's container", "a container on a management network"):
        assert from_host[label], label
        assert from_outside[label] == "open", (label, from_outside[label])
    # From inside the app every one is refused at once, with a reset rather than a timeout.
    for label in targets:
        assert from_app[label].startswith(REFUSED), (label, from_app[label])
    assert from_app["ipv6"] == ""  # no IPv6 inside an app container: nothing for ip6tables to do
    # Nothing from an app container got through to any listener (the host's own connections come
    # from the bridges' gateway addresses, which are the host's).
    pool = ipaddress.IPv4Network(defaults.NETWORK_POOL)
    hosts_own = {gateway_a, gateway(runtime.client, network_b)}
    arrived = anywhere.peers + on_gateway.peers + peers(office) + peers(other_app)
    assert peers(office) and peers(other_app)  # the outside probe's connections were seen
    assert not [ip for ip in arrived if ipaddress.IPv4Address(ip) in pool and ip not in hosts_own]


def test_the_rules_are_idempotent_converge_and_follow_docker_user(
        testbed: dict[str, dict[str, Any]]) -> None:
    need_iptables()
    tag = secrets.token_hex(3)
    settings = FirewallSettings(pool=TEST_POOL, chain_prefix=f"WADAHT-{tag}",
                                docker_chain=f"WADAHT-{tag}-DU",
                                resolvers=(ipaddress.IPv4Address("192.0.2.53"),))
    docker_user, in_front = settings.docker_chain, ("INPUT", "-s", str(TEST_POOL), "-j", "ACCEPT")
    firewall = AppFirewall(settings)

    def ours() -> list[str]:
        return [line for line in iptables("-S").splitlines() if tag in line]

    def jumps(chain: str, target: str) -> list[str]:
        return [line for line in iptables("-S", chain).splitlines() if line.endswith(f"-j {target}")]

    try:
        first = firewall.ensure()
        assert first.changed and first.installed and first.forward_parent == "FORWARD"
        installed = ours()
        assert not firewall.ensure().changed and ours() == installed  # a second round: no change

        # Another tool puts a rule in front of the jump: the next round puts the jump first again.
        iptables("-I", "INPUT", "1", *in_front[1:])
        assert "INPUT" in (firewall.check().error or "")
        assert firewall.ensure().changed and firewall.check().installed
        assert iptables("-S", "INPUT").splitlines()[1].endswith(f"-j {settings.input_chain}")
        assert len(jumps("INPUT", settings.input_chain)) == 1
        iptables("-D", *in_front)

        # Someone empties a chain: it is filled again, exactly as before.
        iptables("-F", settings.forward_chain)
        assert not firewall.check().installed
        assert firewall.ensure().changed and ours() == installed

        # The data center denies egress and allows one range: the chain is rewritten, no leftovers.
        stricter = AppFirewall(replace(settings, egress="deny",
                                       allowed=(ipaddress.IPv4Network("192.0.2.0/28"),)))
        assert stricter.ensure().changed
        forward = iptables("-S", settings.forward_chain).splitlines()[1:]
        assert len(forward) == len(stricter.rules()[settings.forward_chain])
        assert forward[-1].endswith(f"-A {settings.forward_chain} -j REJECT --reject-with"
                                    " icmp-admin-prohibited")  # everything else, last
        assert f"-A {settings.forward_chain} -d 192.0.2.0/28 -j RETURN" in forward

        # dockerd starts managing iptables and makes DOCKER-USER: the forward jump moves there.
        iptables("-N", docker_user)
        iptables("-I", "FORWARD", "1", "-j", docker_user)
        assert not stricter.check().installed
        assert stricter.ensure().forward_parent == docker_user
        assert iptables("-S", docker_user).splitlines()[1].endswith(f"-j {settings.forward_chain}")
        assert jumps("FORWARD", settings.forward_chain) == []
        assert stricter.check().installed

        stricter.remove()
        assert not stricter.exists()
        assert all(docker_user in line for line in ours())  # only the stand-in DOCKER-USER is left
    finally:
        firewall.remove()
        iptables("-D", *in_front, check=False)
        iptables("-D", "FORWARD", "-j", docker_user, check=False)
        iptables("-X", docker_user, check=False)
    assert ours() == []


def test_a_host_whose_rules_cannot_be_installed_says_so(
        testbed: dict[str, dict[str, Any]], docker_client: docker.DockerClient,
        mariadb_admin: dict[str, Any], tmp_path: Path) -> None:
    host = make_host(testbed, docker_client, mariadb_admin, tmp_path)
    missing = str(tmp_path / "no-iptables")
    host.firewall = AppFirewall(FirewallSettings(iptables=missing))
    report = host.reconcile()
    assert [e for e in report.errors if e.startswith("jaringan aplikasi: ") and missing in e]
    facts = host.facts().to_dict()["app_network"]
    assert facts["managed"] and not facts["installed"] and missing in facts["error"]
    host.firewall = None  # switched off (--no-app-firewall): said so, not an error
    assert host.facts().app_network["managed"] is False
    assert host.facts().app_network["error"] is None


def test_settings_and_resolvers(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="IPv4"):
        ipv4_networks(["fd00::/8"])
    with pytest.raises(ValueError, match="egress"):
        FirewallSettings(egress="sometimes")
    assert ipv4_networks(["10.10.1.12/24", "192.0.2.7"]) == (
        ipaddress.IPv4Network("10.10.1.0/24"), ipaddress.IPv4Network("192.0.2.7/32"))
    # Only a loopback stub (systemd-resolved): Docker asks the upstream servers instead.
    stub, upstream = tmp_path / "resolv.conf", tmp_path / "upstream.conf"
    stub.write_text("nameserver 127.0.0.53\noptions edns0\n")
    upstream.write_text("# upstream\nnameserver 10.255.0.53\nnameserver fd00::53\n")
    assert host_resolvers([str(stub), str(upstream)]) == (ipaddress.IPv4Address("10.255.0.53"),)
    # Other apps' networks come before any exception, and an allowed range never opens them.
    rules = AppFirewall(FirewallSettings(
        allowed=(ipaddress.IPv4Network("10.0.0.0/8"),), resolvers=())).rules()
    forward = rules[f"{defaults.FIREWALL_CHAIN_PREFIX}-FORWARD"]
    assert forward.index(("-d", defaults.NETWORK_POOL, "-p", "tcp", "-j", "REJECT",
                          "--reject-with", "tcp-reset")) < forward.index(
        ("-d", "10.0.0.0/8", "-j", "RETURN"))


def test_the_agent_command_reads_the_settings_from_its_environment(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from agents.cli import agent

    env = {"WADAH_AGENT_APP_PROTECTED": "10.1.0.0/16 no-such-range",
           "WADAH_AGENT_APP_EGRESS": "deny"}
    result = CliRunner().invoke(agent, ["run", "--state-dir", str(tmp_path)], env=env)
    assert result.exit_code == 2 and "no-such-range" in result.output  # refused before anything
    env["WADAH_AGENT_APP_PROTECTED"] = "10.1.0.0/16 10.2.0.0/16"
    result = CliRunner().invoke(agent, ["run", "--state-dir", str(tmp_path)], env=env)
    assert result.exit_code == 1 and "belum terdaftar" in result.output  # the settings were valid
