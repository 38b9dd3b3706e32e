"""What app containers may reach: the agent's own iptables chains, kept in place at every reconcile.

A compromised app opens connections from its container. Two chains of the agent's own, each jumped
to first for packets whose source is the app network pool, take away what it must not reach:

- `WADAH-APPS-INPUT` (from INPUT): every address of this host — its bridge gateways, its LAN
  address, services bound to 0.0.0.0 such as the agent's API, the panel, MariaDB's TCP port, SSH
  or Docker's API. Apps reach MariaDB through its mounted socket, never over TCP.
- `WADAH-APPS-FORWARD` (from DOCKER-USER where dockerd manages iptables, else from FORWARD):
  other apps' networks, the protected ranges (private and link-local by default: the panel, other
  agents, the data center's management networks, cloud metadata) and, when egress is "deny",
  everything else; the host's DNS resolvers (Docker's embedded DNS asks them from inside the
  container) and the ranges the data center allows stay reachable.

Packets of established connections (nginx's requests into a container and their answers) are left
to the rest of the host's rules: these chains only ever take away. A refusal is a TCP reset or an
ICMP error, so an app fails at once instead of waiting for a timeout.

Changes are made with `iptables-restore --noflush` in one transaction, so a chain is rebuilt and a
jump moved with no moment in between where nothing applies; checks use `iptables -C`.

IPv4 only: the pool has no IPv6 and Docker switches IPv6 off inside containers on a network without
it, so there is nothing for ip6tables to filter (tests/security/test_app_network.py checks both).
"""
from __future__ import annotations

import ipaddress
import logging
import socket
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from agents import defaults
from agents.errors import FirewallError

logger = logging.getLogger(__name__)

EGRESS_POLICIES = ("allow", "deny")
ESTABLISHED = ("-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "RETURN")
TCP_RESET = ("-p", "tcp", "-j", "REJECT", "--reject-with", "tcp-reset")
PORT_UNREACHABLE = ("-j", "REJECT", "--reject-with", "icmp-port-unreachable")
PROHIBITED = ("-j", "REJECT", "--reject-with", "icmp-admin-prohibited")


def ipv4_networks(values: Iterable[str]) -> tuple[ipaddress.IPv4Network, ...]:
    """Parse addresses or CIDR ranges (host bits dropped); raise ValueError on anything else."""
    networks = []
    for value in values:
        network = ipaddress.ip_network(str(value).strip(), strict=False)
        if not isinstance(network, ipaddress.IPv4Network):
            raise ValueError(f"{value}: hanya IPv4 (jaringan aplikasi tidak memakai IPv6)")
        networks.append(network)
    return tuple(networks)


def host_resolvers(files: Sequence[str] = defaults.RESOLV_CONF_FILES
                   ) -> tuple[ipaddress.IPv4Address, ...]:
    """Return the IPv4 resolvers Docker's embedded DNS forwards to, as dockerd picks them."""
    for path in files:  # the first file naming a resolver that is not on loopback wins
        try:
            lines = Path(path).read_text().splitlines()
        except OSError:
            continue
        found = []
        for line in lines:
            words = line.split()
            if len(words) >= 2 and words[0] == "nameserver":
                try:
                    address = ipaddress.ip_address(words[1])
                except ValueError:
                    continue
                if isinstance(address, ipaddress.IPv4Address) and not address.is_loopback:
                    found.append(address)
        if found:
            return tuple(dict.fromkeys(found))
    return ()


def panel_addresses(panel_url: str) -> tuple[ipaddress.IPv4Network, ...]:
    """Return the panel's IPv4 addresses (resolved once, at start) for the protected list."""
    host = urlsplit(panel_url).hostname or ""
    try:
        found = {info[4][0] for info in socket.getaddrinfo(host, None, socket.AF_INET)}
    except (OSError, UnicodeError):
        logger.warning("the panel's address %r does not resolve; only the ranges protect it", host)
        return ()
    addresses = sorted(ipaddress.IPv4Address(a) for a in found)
    return tuple(ipaddress.IPv4Network(a) for a in addresses if not a.is_loopback)


@dataclass(frozen=True)
class FirewallSettings:
    """What app containers may reach; every value is checked before it reaches iptables."""

    pool: ipaddress.IPv4Network = ipaddress.IPv4Network(defaults.NETWORK_POOL)
    # Added to defaults.APP_PROTECTED_NETWORKS, which are always protected.
    protected: tuple[ipaddress.IPv4Network, ...] = ()
    # Reachable even when protected or when egress is "deny" (a mail relay, an API gateway).
    allowed: tuple[ipaddress.IPv4Network, ...] = ()
    egress: str = defaults.APP_EGRESS
    host_ports: tuple[int, ...] = ()  # TCP ports of this host apps may reach (e.g. 443 of nginx)
    resolvers: tuple[ipaddress.IPv4Address, ...] | None = None  # None: read at each check
    iptables: str = defaults.IPTABLES
    chain_prefix: str = defaults.FIREWALL_CHAIN_PREFIX
    docker_chain: str = defaults.DOCKER_USER_CHAIN

    def __post_init__(self) -> None:
        if self.egress not in EGRESS_POLICIES:
            raise ValueError(f"kebijakan egress harus allow atau deny, bukan {self.egress!r}")
        if not all(isinstance(p, int) and 0 < p < 65536 for p in self.host_ports):
            raise ValueError("port host harus 1–65535")
        for name in (self.chain_prefix, self.docker_chain):
            if not name or len(name) > 20 or not all(c.isalnum() or c in "-_" for c in name):
                raise ValueError(f"nama chain tidak sah: {name!r}")

    @property
    def input_chain(self) -> str:
        return f"{self.chain_prefix}-INPUT"

    @property
    def forward_chain(self) -> str:
        return f"{self.chain_prefix}-FORWARD"

    def protected_networks(self) -> tuple[ipaddress.IPv4Network, ...]:
        return tuple(dict.fromkeys(ipv4_networks(defaults.APP_PROTECTED_NETWORKS) + self.protected))


@dataclass
class FirewallStatus:
    """What the facts report: whether the rules are in place, and what they say."""

    managed: bool
    installed: bool = False
    error: str | None = None  # why they are not in place (a loud fact: the panel marks the host)
    changed: bool = False  # this round installed or repaired something
    backend: str = ""  # nf_tables or legacy, as `iptables --version` says
    forward_parent: str = ""  # DOCKER-USER or FORWARD
    egress: str = ""
    protected: list[str] = field(default_factory=list)
    allowed: list[str] = field(default_factory=list)
    host_ports: list[int] = field(default_factory=list)
    resolvers: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        del data["changed"]
        return data


class AppFirewall:
    """Installs, checks and removes the agent's chains for the app network pool."""

    def __init__(self, settings: FirewallSettings | None = None) -> None:
        self.settings = settings or FirewallSettings()

    # --- the rules ---------------------------------------------------------------------------------

    def resolvers(self) -> tuple[ipaddress.IPv4Address, ...]:
        if self.settings.resolvers is not None:
            return self.settings.resolvers
        return host_resolvers()

    def rules(self, resolvers: Sequence[ipaddress.IPv4Address] | None = None
              ) -> dict[str, list[tuple[str, ...]]]:
        """Return {chain: rule specs in order} for the settings (and these resolvers)."""
        s = self.settings
        dns = [(f"{r}/32", proto) for r in (self.resolvers() if resolvers is None else resolvers)
               for proto in ("udp", "tcp")]
        dns_rules = [("-d", d, "-p", proto, "--dport", "53", "-j", "RETURN") for d, proto in dns]
        to_host: list[tuple[str, ...]] = [
            ("-i", "lo", "-j", "RETURN"),  # the host's own connections to its gateway addresses
            ESTABLISHED,
            *dns_rules,
            *(("-p", "tcp", "--dport", str(port), "-j", "RETURN") for port in s.host_ports),
            TCP_RESET,
            PORT_UNREACHABLE,
        ]
        onward: list[tuple[str, ...]] = [ESTABLISHED]
        # Other apps come first: neither a resolver nor an allowed range opens another app's network.
        onward += [("-d", str(s.pool), *TCP_RESET), ("-d", str(s.pool), *PROHIBITED)]
        onward += dns_rules
        onward += [("-d", str(net), "-j", "RETURN") for net in s.allowed]
        for net in s.protected_networks():
            onward += [("-d", str(net), *TCP_RESET), ("-d", str(net), *PROHIBITED)]
        if s.egress == "deny":
            onward += [TCP_RESET, PROHIBITED]
        return {s.input_chain: to_host, s.forward_chain: onward}

    def _jump(self, chain: str) -> tuple[str, ...]:
        return ("-s", str(self.settings.pool), "-j", chain)

    # --- check, ensure, remove ---------------------------------------------------------------------

    def check(self) -> FirewallStatus:
        """Report whether every rule and jump is in place, changing nothing."""
        resolvers = self.resolvers()
        status = self._status(resolvers)
        try:
            status.backend, status.forward_parent = self._backend(), self._forward_parent()
            problems = self._problems(self.rules(resolvers))
        except FirewallError as exc:
            status.error = str(exc)
            return status
        status.installed = not problems
        if problems:
            status.error = "aturan jaringan aplikasi tidak lengkap: " + "; ".join(problems)
        return status

    def ensure(self) -> FirewallStatus:
        """Install or repair the chains and jumps; raise FirewallError when iptables refuses."""
        resolvers = self.resolvers()
        rules = self.rules(resolvers)
        problems = self._problems(rules)
        status = self._status(resolvers)
        if problems:
            logger.warning("app network rules need repair: %s", "; ".join(problems))
            self._restore(self._repair(rules))
            status.changed = True
            problems = self._problems(rules)
            if problems:
                raise FirewallError("aturan jaringan aplikasi tidak terpasang: " + "; ".join(problems))
        status.backend, status.forward_parent = self._backend(), self._forward_parent()
        status.installed = True
        return status

    def exists(self) -> bool:
        """Return whether either of the agent's chains exists (whatever its content)."""
        return any(self._chain_rules(c) is not None
                   for c in (self.settings.input_chain, self.settings.forward_chain))

    def remove(self) -> None:
        """Take the jumps and the chains away (an uninstall; the agent itself never does)."""
        s = self.settings
        lines = []
        for chain in (s.input_chain, s.forward_chain):
            for parent in ("INPUT", "FORWARD", s.docker_chain):
                lines += [_as_delete(line) for line in self._jumps_in(parent, chain)]
        for chain in (s.input_chain, s.forward_chain):
            if self._chain_rules(chain) is not None:
                lines += [f"-F {chain}", f"-X {chain}"]
        if lines:
            self._restore(lines)

    # --- inside ----------------------------------------------------------------------------------

    def _status(self, resolvers: Sequence[ipaddress.IPv4Address]) -> FirewallStatus:
        s = self.settings
        return FirewallStatus(
            managed=True, egress=s.egress, protected=[str(n) for n in s.protected_networks()],
            allowed=[str(n) for n in s.allowed], host_ports=list(s.host_ports),
            resolvers=[str(r) for r in resolvers])

    def _forward_parent(self) -> str:
        if self._chain_rules(self.settings.docker_chain) is not None:
            return self.settings.docker_chain
        return "FORWARD"

    def _parents(self) -> dict[str, str]:
        """Return {our chain: the built-in or Docker chain that must jump to it first}."""
        return {self.settings.input_chain: "INPUT", self.settings.forward_chain: self._forward_parent()}

    def _problems(self, rules: dict[str, list[tuple[str, ...]]]) -> list[str]:
        problems = []
        for chain, specs in rules.items():
            present = self._chain_rules(chain)
            if present is None:
                problems.append(f"chain {chain} tidak ada")
                continue
            if len(present) != len(specs) or not all(self._has(chain, spec) for spec in specs):
                problems.append(f"isi chain {chain} berbeda")
        for chain, parent in self._parents().items():
            jumps = self._jumps_in(parent, chain)
            first = (self._chain_rules(parent) or [""])[:1]
            if not jumps or jumps != first or not self._has(parent, self._jump(chain)):
                problems.append(f"{parent} tidak lebih dulu melompat ke {chain}")
        if self._forward_parent() != "FORWARD" and self._jumps_in("FORWARD", self.settings.forward_chain):
            problems.append(f"FORWARD masih melompat ke {self.settings.forward_chain}")
        return problems

    def _repair(self, rules: dict[str, list[tuple[str, ...]]]) -> list[str]:
        """Return the restore lines that rebuild both chains and put each jump first, in one go."""
        lines = []
        for chain, specs in rules.items():
            lines.append(f":{chain} - [0:0]")  # with --noflush: creates the chain, or empties it
            lines += [_line("-A", chain, spec) for spec in specs]
        parents = self._parents()
        for chain, parent in parents.items():
            for other in {"INPUT", "FORWARD", self.settings.docker_chain} - {parent}:
                lines += [_as_delete(line) for line in self._jumps_in(other, chain)]
            lines += [_as_delete(line) for line in self._jumps_in(parent, chain)]
            lines.append(_line("-I", parent, ("1", *self._jump(chain))))
        return lines

    def _jumps_in(self, parent: str, chain: str) -> list[str]:
        return [line for line in self._chain_rules(parent) or [] if line.endswith(f" -j {chain}")]

    def _chain_rules(self, chain: str) -> list[str] | None:
        """Return the chain's rules as `iptables -S` prints them, or None if it does not exist."""
        result = self._run("-S", chain)
        if result.returncode != 0:
            return None
        return [line for line in result.stdout.splitlines() if line.startswith(f"-A {chain} ")]

    def _has(self, chain: str, spec: Sequence[str]) -> bool:
        return self._run("-C", chain, *spec).returncode == 0

    def _backend(self) -> str:
        try:
            result = self._exec([self.settings.iptables, "--version"])
        except FirewallError:
            return ""
        text = result.stdout + result.stderr
        return "nf_tables" if "nf_tables" in text else "legacy" if "legacy" in text else ""

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self._exec([self.settings.iptables, "-w", str(defaults.IPTABLES_WAIT_S), *args])

    def _restore(self, lines: list[str]) -> None:
        text = "*filter\n" + "".join(f"{line}\n" for line in lines) + "COMMIT\n"
        command = [self.settings.iptables + "-restore", "-w", str(defaults.IPTABLES_WAIT_S),
                   "--noflush"]
        result = self._exec(command, text)
        if result.returncode != 0:
            raise FirewallError(f"{Path(command[0]).name} menolak aturan jaringan aplikasi: "
                                f"{_last_line(result.stderr)}")
        logger.info("app network rules applied:\n%s", text)

    @staticmethod
    def _exec(command: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(command, input=stdin, capture_output=True, text=True,
                                  timeout=defaults.IPTABLES_TIMEOUT_S, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise FirewallError(f"tidak dapat menjalankan {command[0]}: {exc}") from exc


def _line(action: str, chain: str, spec: Sequence[str]) -> str:
    words = [action, chain, *spec]
    if not all(words) or any(c.isspace() or c in "\"'#" for word in words for c in word):
        raise ValueError(f"kata aturan tidak sah: {words!r}")  # all come from checked settings
    return " ".join(words)


def _as_delete(rule: str) -> str:
    """Turn a rule as `iptables -S` prints it (-A CHAIN …) into the line deleting it."""
    return "-D" + rule[2:]


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if "legacy tables present" not in line]
    return lines[-1] if lines else "(tanpa pesan)"


def firewall_facts(firewall: AppFirewall | None) -> dict[str, Any]:
    """Return the firewall's state for the host's facts ({"managed": False} when switched off)."""
    if firewall is None:
        return FirewallStatus(managed=False).to_dict()
    return firewall.check().to_dict()
