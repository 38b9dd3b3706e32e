"""Walking skeleton: an archive goes in, a hardened container answers through nginx, then nothing is left.

A tiny static site and a tiny PHP app are stored content-addressed, run by the local agent in
containers with the hardening of DESIGN.md, reached through nginx by Host header, and removed.
"""
from __future__ import annotations

import io
import secrets
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from agents.databases import MariaDBSettings
from agents.host import HostAgent
from agents.protocol import AppSpec, HealthCheck, Limits
from agents.protocol.artifacts import ArtifactStore
from agents.vhosts import NginxSettings
from tests.support import fetch, tar_gz

pytestmark = pytest.mark.slow


def nginx_settings(testbed: dict[str, dict[str, Any]]) -> NginxSettings:
    """Return the settings of the testbed's nginx, as an agent on that host would have them."""
    nginx = testbed["nginx"]
    prefix = Path(nginx["prefix"])
    return NginxSettings(sites_dir=Path(nginx["sites_dir"]), log_dir=prefix / "logs",
                         binary=nginx["binary"], prefix=nginx["prefix"], conf=nginx["conf"],
                         pid_file=prefix / "run" / "nginx.pid", listen=nginx["http"],
                         probe=nginx["http"])


def listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def host(testbed: dict[str, dict[str, Any]], docker_client: docker.DockerClient,
         runtime_images: dict[str, Any], mariadb_admin: dict[str, Any],
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostAgent]:
    root = tmp_path_factory.mktemp("skeleton")
    mariadb = MariaDBSettings(user=mariadb_admin["user"], password=mariadb_admin["password"],
                              host=mariadb_admin["host"], port=mariadb_admin["port"],
                              app_socket=Path(testbed["mariadb"]["socket"]))
    agent = HostAgent(docker_client, nginx_settings(testbed), root / "agent",
                 ArtifactStore(root / "artifacts"), mariadb)
    yield agent
    for status in agent.apps():  # whatever a failed assertion left behind
        agent.remove(status.name)


@pytest.mark.parametrize("stack, files, expected", [
    ("static", {"index.html": "<h1>Selamat datang di kerangka statis</h1>\n"},
     "Selamat datang di kerangka statis"),
    ("php", {"index.php": "<?php echo 'Halo dari PHP ' . (6 * 7) . \"\\n\";\n"},
     "Halo dari PHP 42"),
])
def test_archive_to_page_through_nginx_and_back_to_nothing(
        host: HostAgent, testbed: dict[str, dict[str, Any]], docker_client: docker.DockerClient,
        stack: str, files: dict[str, str], expected: str) -> None:
    sha256, _ = host.artifacts.put(io.BytesIO(tar_gz(files)), max_bytes=10**6)
    assert host.artifacts.path(sha256).name == sha256
    name = f"skel-{stack}-{secrets.token_hex(3)}"
    fqdn = f"{name}.{testbed['named']['zone']}"
    limits = Limits(memory_mb=96, cpus=0.5, pids=64)
    result = host.deploy(AppSpec(name=name, fqdn=fqdn, stack=stack, release_id=1,
                                 artifact_sha256=sha256, limits=limits,
                                 health=HealthCheck(interval_s=0.2)))

    status, body = fetch(testbed["nginx"]["http"], fqdn)
    assert status == 200 and expected in body

    (container,) = docker_client.containers.list(filters={"label": f"org.wadah.app={name}"})
    config, hostcfg = container.attrs["Config"], container.attrs["HostConfig"]
    assert config["User"] and config["User"].split(":")[0] not in ("", "0", "root")
    assert hostcfg["Privileged"] is False
    assert hostcfg["CapDrop"] == ["ALL"] and not hostcfg["CapAdd"]
    assert "no-new-privileges:true" in hostcfg["SecurityOpt"]
    assert hostcfg["ReadonlyRootfs"] is True
    assert hostcfg["Memory"] == 96 * 1024 * 1024 and hostcfg["NanoCpus"] == 500_000_000
    assert hostcfg["PidsLimit"] == 64
    bindings = [b for ports in hostcfg["PortBindings"].values() for b in ports]
    assert bindings and all(b["HostIp"] == "127.0.0.1" for b in bindings)
    assert hostcfg["NetworkMode"] not in ("host", "default", "bridge")
    assert hostcfg["PidMode"] != "host" and hostcfg["IpcMode"] != "host"
    assert hostcfg["UTSMode"] != "host" and hostcfg["UsernsMode"] != "host"
    mounts = container.attrs["Mounts"]
    assert not any("docker.sock" in m["Source"] for m in mounts)
    code = next(m for m in mounts if m["Destination"] == "/srv/app")
    assert code["RW"] is False
    vhost = Path(testbed["nginx"]["sites_dir"]) / f"wadah-{name}.conf"
    assert vhost.is_file() and fqdn in vhost.read_text()
    assert listening(result.port)

    report = host.remove(name)

    assert report.dump is None
    assert docker_client.containers.list(all=True, filters={"label": f"org.wadah.app={name}"}) == []
    assert docker_client.networks.list(filters={"label": f"org.wadah.app={name}"}) == []
    assert not vhost.exists()
    assert not listening(result.port)
    assert fetch(testbed["nginx"]["http"], fqdn)[0] == 404
    assert host.apps() == []
    assert not (host.state.root / "releases" / name).exists()
    assert not (host.state.root / "data" / name).exists()
