"""The testbed's lifecycle: idempotent `up`, status, clear errors, a `down` that stops only its own.

Tests that start services of their own use a state dir in tmp_path and free ports, so the shared
testbed keeps running undisturbed.
"""
from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from panel.testbed import SERVICES, Testbed, TestbedError, cli


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _processes_under(path: Path) -> list[int]:
    """Return the pids of processes whose command line mentions `path`."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and str(path).encode() in (entry / "cmdline").read_bytes():
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


@pytest.fixture
def private_bed(tmp_path):
    """A testbed in tmp_path whose services get free ports; whatever it started is stopped after."""
    ports = {name: _free_port() for name in ("nginx", "clamd", "named")}
    bed = Testbed(state_dir=tmp_path, ports=ports)
    yield bed
    bed.down()
    assert _processes_under(tmp_path) == []


def test_settings_come_from_the_environment_with_fixed_defaults(tmp_path, monkeypatch):
    for name in ("WADAH_STATE_DIR", "WADAH_TESTBED_HTTP_PORT", "WADAH_TESTBED_DNS_PORT"):
        monkeypatch.delenv(name, raising=False)
    bed = Testbed()
    assert bed.dir == Path("~/.local/state/wadah/testbed").expanduser()
    assert bed.services["nginx"].port == 18080
    assert bed.services["named"].port == 15353

    monkeypatch.setenv("WADAH_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("WADAH_TESTBED_HTTP_PORT", "19999")
    bed = Testbed()
    assert bed.dir == tmp_path / "testbed"
    assert bed.services["nginx"].port == 19999
    assert Testbed(state_dir=tmp_path / "other").dir == tmp_path / "other" / "testbed"
    assert Testbed(ports={"nginx": 19998}).services["nginx"].port == 19998


def test_second_up_changes_nothing_and_is_fast(testbed):
    before = Testbed().status()  # now, not at session start: other tests may restart dockerd
    began = time.monotonic()
    again = Testbed().up()
    assert time.monotonic() - began < 2
    assert not any(entry["started"] for entry in again.values())
    assert {name: entry["pid"] for name, entry in again.items()} == {
        name: entry["pid"] for name, entry in before.items()}


def test_cli_up_says_nothing_changed_when_all_run(testbed):
    result = CliRunner().invoke(cli.testbed, ["up"])
    assert result.exit_code == 0, result.output
    assert "nothing changed" in result.stdout


def test_status_json_describes_every_service_and_prints_no_secret(testbed, testbed_credentials):
    result = CliRunner().invoke(cli.testbed, ["status", "--json"])
    assert result.exit_code == 0, result.output
    status = json.loads(result.stdout)

    assert list(status) == [service.name for service in SERVICES]
    for entry in status.values():
        assert entry["running"] is True
        assert isinstance(entry["pid"], int)
        assert entry["log"].endswith(".log")
    assert status["docker"]["address"] == f"unix://{status['docker']['socket']}"
    assert {"http", "prefix", "conf", "sites_dir", "binary"} <= status["nginx"].keys()
    assert status["clamd"]["address"] == f"unix://{status['clamd']['socket']}"
    assert status["clamd"]["tcp"] == "127.0.0.1:13310"
    assert status["named"]["address"] == "127.0.0.1:15353"
    assert status["named"]["zone"] == "contoh.go.id"
    assert (status["named"]["tsig_key_name"], status["named"]["tsig_algorithm"]) == (
        "wadah-update", "hmac-sha256")
    assert status["mariadb"]["tcp"] == "127.0.0.1:13306"
    assert status["mariadb"]["admin_user"] == "wadah-agent"
    assert status["postgres"]["url"] == "postgresql://wadah@127.0.0.1:15432/wadah_test"
    assert status["redis"]["url"] == "redis://127.0.0.1:16379"

    for secret_file in (status["named"]["tsig_key_file"], status["mariadb"]["admin_password_file"],
                        status["postgres"]["password_file"], status["redis"]["password_file"],
                        str(Path(status["redis"]["password_file"]).with_name("redis.conf"))):
        assert stat.S_IMODE(os.stat(secret_file).st_mode) == 0o600
    table = CliRunner().invoke(cli.testbed, ["status"]).output
    up_json = CliRunner().invoke(cli.testbed, ["up", "--json"]).output
    secrets = [value for service in testbed_credentials.values() for value in service.values()]
    for text in (result.output, table, up_json):
        for secret in secrets:
            assert secret not in text


def test_a_running_service_keeps_the_port_it_was_started_with(private_bed):
    first = private_bed.up(only=["nginx"])["nginx"]
    asked_now = Testbed(state_dir=private_bed.state_dir, ports={"nginx": _free_port()})
    seen = asked_now.status(only=["nginx"])["nginx"]
    assert seen["running"] is True
    assert seen["http"] == first["http"]


def test_unknown_service_is_refused(tmp_path):
    with pytest.raises(TestbedError, match="unknown service"):
        Testbed(state_dir=tmp_path).up(only=["memcached"])


def test_port_taken_names_the_service_and_its_log_and_stops_what_this_up_started(private_bed):
    bed = private_bed
    before = bed.up(only=["nginx"])["nginx"]  # running before the failing call: must be left alone
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", bed.services["named"].port))
        squatter.listen()
        with pytest.raises(TestbedError) as caught:
            bed.up(only=["nginx", "clamd", "named"])

    error = caught.value
    message = str(error)
    assert error.service == "named"
    assert f"127.0.0.1:{bed.services['named'].port}" in message
    assert str(bed.services["named"].log) in message
    assert "last lines of" in message
    # clamd was started by the failing call: stopped again, nothing left behind.
    assert not bed.services["clamd"].pid_file.exists()
    assert _processes_under(bed.services["clamd"].dir) == []
    after = bed.status(only=["nginx", "clamd"])
    assert after["clamd"]["running"] is False
    assert after["nginx"]["running"] is True
    assert after["nginx"]["pid"] == before["pid"]


def test_a_service_that_dies_at_start_is_reported_with_its_log(private_bed):
    bed = private_bed
    sites = bed.services["nginx"].dir / "sites"
    sites.mkdir(parents=True)
    (sites / "rusak.conf").write_text("ini bukan konfigurasi nginx;\n")
    with pytest.raises(TestbedError) as caught:
        bed.up(only=["nginx"])
    assert caught.value.service == "nginx"
    assert "unknown directive" in caught.value.tail
    assert not bed.services["nginx"].pid_file.exists()


def test_cli_up_and_down_a_private_subset(tmp_path, testbed):
    env = {"WADAH_STATE_DIR": str(tmp_path), "WADAH_TESTBED_HTTP_PORT": str(_free_port())}
    runner = CliRunner()
    up = runner.invoke(cli.testbed, ["up", "--only", "nginx", "--json"], env=env)
    assert up.exit_code == 0, up.output
    mine = json.loads(up.stdout)
    assert list(mine) == ["nginx"]
    assert mine["nginx"]["started"] is True

    down = runner.invoke(cli.testbed, ["down", "--only", "nginx"], env=env)
    assert down.exit_code == 0, down.output
    assert "nginx" in down.stdout and "stopped" in down.stdout
    assert not Path(f"/proc/{mine['nginx']['pid']}").exists()
    assert (tmp_path / "testbed" / "nginx" / "nginx.conf").exists()  # down keeps the state

    shared = Testbed().status(only=["nginx"])["nginx"]
    assert shared["running"] is True
    assert shared["pid"] == testbed["nginx"]["pid"]


def test_down_never_signals_a_process_it_did_not_start(tmp_path, testbed):
    bed = Testbed(state_dir=tmp_path)
    nginx, clamd = bed.services["nginx"], bed.services["clamd"]
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        for service, pid in ((nginx, testbed["nginx"]["pid"]), (clamd, sleeper.pid)):
            service.dir.mkdir(parents=True)
            service.pid_file.write_text(f"{pid}\n")
        # nginx.pid names the shared testbed's nginx (same program, other state dir);
        # clamd.pid names an unrelated program.
        outcome = bed.down()
        assert "stale pid file" in outcome["nginx"]
        assert "stale pid file" in outcome["clamd"]
        assert outcome["docker"] == "not running"
        assert sleeper.poll() is None
        assert Testbed().status(only=["nginx"])["nginx"]["pid"] == testbed["nginx"]["pid"]
        assert not nginx.pid_file.exists()
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_private_redis_starts_with_a_password_and_stops_again(tmp_path):
    bed = Testbed(state_dir=tmp_path, ports={"redis": _free_port()})
    try:
        started = bed.up(only=["redis"])["redis"]
        assert started["started"] is True and started["running"] is True
        assert started["address"] == f"127.0.0.1:{bed.services['redis'].port}"
        password = Path(started["password_file"]).read_text().strip()
        for private in (started["password_file"], bed.services["redis"].dir / "redis.conf"):
            assert stat.S_IMODE(os.stat(private).st_mode) == 0o600
        assert password not in Path(f"/proc/{started['pid']}/cmdline").read_text()
        assert password not in Path(started["log"]).read_text()
        assert bed.up(only=["redis"])["redis"]["started"] is False
    finally:
        assert bed.down(only=["redis"])["redis"] == "stopped"
    assert _processes_under(tmp_path) == []
    assert bed.status(only=["redis"])["redis"]["running"] is False
