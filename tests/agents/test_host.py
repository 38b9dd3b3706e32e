"""The host operations on the real testbed: deploy, redeploy, rollback, failures, bad input, env,
start/stop, logs, stats, facts, writable paths, Dockerfile apps and retention.

The helpers and the `host` fixture here are also used by the other test_host*/test_reconcile*/
test_databases* modules.
"""
from __future__ import annotations

import re
import socket
import threading
import time
from typing import Any

import docker
import pytest

from agents import defaults
from agents.errors import (
    AppBusy,
    ArtifactRejected,
    BuildFailed,
    DeployAborted,
    InvalidRequest,
    UnknownApp,
    UnknownArtifact,
)
from agents.host import HostAgent
from agents.protocol import AppSpec, HealthCheck, InvalidName, Limits
from tests.agents.support import FAST, SMALL, containers_of, fetch, php_release, put, spec, unique

pytestmark = pytest.mark.slow

# --- helpers of this module -------------------------------------------------------------------------


def serving_pool(host: HostAgent, app: str) -> str:
    """Return the upstream the app's vhost proxies to, checking it is the current instance's."""
    text = host.vhosts.read(app)
    assert text is not None
    status = host.status(app)
    match = re.search(r"^upstream (\S+) \{\n    server 127\.0\.0\.1:(\d+);\n    keepalive ", text,
                      re.M)
    assert match and int(match[2]) == status.port
    assert f"proxy_pass http://{match[1]};" in text
    return match[1]


def listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


# --- deploy, redeploy, rollback ------------------------------------------------------------------


@pytest.fixture(scope="module")
def served(host: HostAgent) -> str:
    """An app with releases 1 and 2 deployed (2 current), shared by the tests below."""
    name = unique("portal")
    host.deploy(spec(host, name, 1, php_release("satu")))
    host.deploy(spec(host, name, 2, php_release("dua")))
    return name


def test_redeploy_switches_and_keeps_the_old_release_for_rollback(
        host: HostAgent, served: str, docker_client: docker.DockerClient) -> None:
    fqdn = f"{served}.contoh.go.id"
    status = host.status(served)
    assert (status.release_id, status.previous_release_ids) == (2, [1])
    assert status.state == "running" and status.framework == "generic" and status.docroot == "."
    assert fetch(host, fqdn)[1].startswith("rilis dua")
    # One container serves; the old one was drained and removed, its release kept on disk.
    assert [c.labels["org.wadah.release"] for c in containers_of(docker_client, served)] == ["2"]
    assert len(list(host.state.releases_dir(served).iterdir())) == 2

    pool = serving_pool(host, served)
    back = host.rollback(served)

    assert (back.release_id, back.previous_release_id) == (1, 2)
    assert fetch(host, fqdn)[1].startswith("rilis satu")
    assert serving_pool(host, served) != pool  # the switch was to a new upstream
    assert host.status(served).previous_release_ids == [2]
    forward = host.rollback(served)  # a second rollback returns to the newer release
    assert forward.release_id == 2 and fetch(host, fqdn)[1].startswith("rilis dua")


def test_failing_release_is_removed_and_the_old_one_keeps_serving(
        host: HostAgent, served: str, docker_client: docker.DockerClient) -> None:
    fqdn = f"{served}.contoh.go.id"
    broken = {"index.php": "<?php error_log('koneksi basis data gagal'); "
                           "http_response_code(500); echo 'rusak';\n"}
    releases_before = sorted(p.name for p in host.state.releases_dir(served).iterdir())

    with pytest.raises(DeployAborted) as failure:
        host.deploy(spec(host, served, 3, broken,
                         health=HealthCheck(attempts=3, interval_s=0.1, timeout_s=2.0)))

    assert "koneksi basis data gagal" in failure.value.logs
    assert fetch(host, fqdn)[1].startswith("rilis dua")
    status = host.status(served)
    assert (status.release_id, status.deploying) == (2, False)
    assert [c.labels["org.wadah.release"] for c in containers_of(docker_client, served)] == ["2"]
    assert sorted(p.name for p in host.state.releases_dir(served).iterdir()) == releases_before


def test_a_first_deploy_that_fails_leaves_nothing(host: HostAgent,
                                                  docker_client: docker.DockerClient) -> None:
    name = unique("gagal")
    with pytest.raises(DeployAborted):
        host.deploy(spec(host, name, 1, {"index.php": "<?php http_response_code(503);\n"},
                         health=HealthCheck(attempts=2, interval_s=0.1, timeout_s=1.0),
                         database=True))
    assert containers_of(docker_client, name) == []
    assert docker_client.networks.list(names=[f"wadah-{name}"]) == []
    assert host.vhosts.read(name) is None
    assert host.state.load(name) is None
    assert not host.state.releases_dir(name).exists() and not host.state.data_dir(name).exists()
    assert host.databases is not None and not host.databases.exists(name)


# --- bad input -------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["Portal", "-portal", "portal_dinas", "a", "x" * 41, "a--b",
                                 "../etc", "portal;rm"])
def test_names_outside_the_grammar_are_refused(host: HostAgent, bad: str) -> None:
    with pytest.raises(InvalidName):
        AppSpec(name=bad, fqdn="portal.contoh.go.id", stack="php", release_id=1,
                artifact_sha256="0" * 64)
    with pytest.raises(InvalidRequest):
        host.status(bad)


@pytest.mark.parametrize("field, value", [
    ("fqdn", "Portal.contoh.go.id"), ("fqdn", "portal..go.id"), ("stack", "node"),
    ("env", {"lower": "x"}), ("env", {"BAD-KEY": "x"}),
])
def test_spec_fields_outside_the_grammar_are_refused(field: str, value: Any) -> None:
    fields: dict[str, Any] = dict(name="portal", fqdn="portal.contoh.go.id", stack="php",
                                  release_id=1, artifact_sha256="0" * 64)
    fields[field] = value
    with pytest.raises(InvalidName):
        AppSpec(**fields)


def test_bad_requests_leave_the_host_as_it_was(host: HostAgent, served: str) -> None:
    before = host.status(served)
    name = unique("tolak")
    with pytest.raises(UnknownArtifact):
        host.deploy(spec(host, name, 1, sha256="ab" * 32))
    with pytest.raises(UnknownArtifact):
        host.deploy(spec(host, served, 9, sha256="cd" * 32))
    sha256 = put(host, php_release("x"))
    for fields in ({"env": {"WADAH_WRITABLE_PATHS": ""}}, {"env": {"PATH": "/tmp"}},
                   {"docroot": "../.."}, {"docroot": "/etc"}, {"writable_paths": (".",)},
                   {"writable_paths": ("a/../../b",)}, {"upload_max_mb": 0},
                   {"limits": Limits(memory_mb=1)}, {"health": HealthCheck(path="bukan-jalur")}):
        with pytest.raises(InvalidRequest):
            host.deploy(spec(host, served, 9, sha256=sha256, **fields))
    with pytest.raises(InvalidRequest):  # another app's name on this host
        host.deploy(AppSpec(name=name, fqdn=f"{served}.contoh.go.id", stack="php", release_id=1,
                            artifact_sha256=sha256, health=FAST, limits=SMALL))
    with pytest.raises(UnknownApp):
        host.rollback(name)
    with pytest.raises(InvalidRequest):
        host.logs(served, source="/etc/passwd")
    assert host.status(served) == before
    assert host.state.load(name) is None


@pytest.mark.parametrize("files, links", [
    ({"../luar.php": "<?php echo 1;"}, None),
    ({"/etc/cron.d/x": "x"}, None),
    ({"index.php": "<?php echo 1;"}, {"tautan": "/etc/passwd"}),
])
def test_unsafe_archives_are_rejected_before_anything_runs(
        host: HostAgent, docker_client: docker.DockerClient, files: dict[str, str | bytes],
        links: dict[str, str] | None) -> None:
    name = unique("arsip")
    with pytest.raises(ArtifactRejected):
        host.deploy(spec(host, name, 1, sha256=put(host, files, links)))
    assert host.state.load(name) is None and containers_of(docker_client, name) == []
    assert not any(host.state.releases_dir(name).glob("*"))


def test_a_second_operation_on_a_busy_app_is_refused(host: HostAgent, served: str) -> None:
    before = host.status(served)
    with host.state.lock_app(served):  # as another process deploying it would
        for operation in (lambda: host.deploy(spec(host, served, 7, php_release("tujuh"))),
                          lambda: host.rollback(served), lambda: host.stop(served),
                          lambda: host.remove(served)):
            with pytest.raises(AppBusy):
                operation()
    assert host.status(served) == before


def test_two_deploys_of_one_app_at_once_never_both_half_apply(
        host: HostAgent, docker_client: docker.DockerClient) -> None:
    name = unique("serentak")
    specs = [spec(host, name, 1, php_release("pertama")), spec(host, name, 2, php_release("kedua"))]
    outcomes: list[Any] = [None, None]

    def run(i: int) -> None:
        try:
            outcomes[i] = host.deploy(specs[i]).release_id
        except AppBusy as exc:
            outcomes[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    done = [o for o in outcomes if isinstance(o, int)]
    assert done and all(isinstance(o, int | AppBusy) for o in outcomes)
    status = host.status(name)
    assert status.release_id == done[-1] if len(done) == 1 else status.release_id in done
    body = fetch(host, f"{name}.contoh.go.id")[1]
    assert body.startswith("rilis pertama" if status.release_id == 1 else "rilis kedua")
    assert len([c for c in containers_of(docker_client, name) if c.status == "running"]) == 1
    host.remove(name)


# --- env, stop/start, logs, stats, facts -------------------------------------------------------------


def test_env_change_rolls_the_release_and_reserved_names_are_refused(host: HostAgent,
                                                                   served: str) -> None:
    fqdn = f"{served}.contoh.go.id"
    result = host.set_env(served, {"SAPAAN": "selamat-pagi"})
    assert result.release_id == 2 == result.previous_release_id
    assert fetch(host, fqdn)[1].strip() == "rilis dua selamat-pagi"
    assert host.env(served) == {"SAPAAN": "selamat-pagi"}
    assert host.status(served).previous_release_ids == [1]
    with pytest.raises(InvalidRequest):
        host.set_env(served, {"WADAH_DOCROOT": "/"})
    with pytest.raises(InvalidRequest):
        host.set_env(served, {"ok": "lowercase keys are not env names"})
    assert host.env(served) == {"SAPAAN": "selamat-pagi"}


def _container_envs(docker_client: docker.DockerClient, app: str) -> list[tuple[str, list[str]]]:
    return sorted((c.id, c.attrs["Config"]["Env"]) for c in containers_of(docker_client, app))


def test_env_that_makes_the_runtime_load_code_is_refused_and_changes_nothing(
        host: HostAgent, served: str, docker_client: docker.DockerClient) -> None:
    # A webshell drops x.so (or an ini file) in a writable path and asks for a variable naming it.
    before = (host.status(served), host.env(served), _container_envs(docker_client, served))
    assert before[2] and before[0].state == "running"
    attacks = [{"LD_PRELOAD": "/srv/app/storage/x.so"}, {"PHP_INI_SCAN_DIR": "/srv/app/storage"},
               {"SAPAAN": "halo", "PHPRC": "/srv/app/storage"}, {"PYTHONPATH": "/srv/app/storage"},
               {"NODE_OPTIONS": "--require /srv/app/storage/x.js"}, {"BASH_ENV": "/srv/app/storage/x.sh"}]
    for env in attacks:
        with pytest.raises(InvalidRequest, match="tidak pernah dipindai"):
            host.set_env(served, env)
        with pytest.raises(InvalidRequest, match="tidak pernah dipindai"):
            host.deploy(spec(host, served, 8, php_release("delapan"), env=env))
    assert (host.status(served), host.env(served), _container_envs(docker_client, served)) == before
    leaked = [v for _, env in before[2] for v in env if v.startswith(("LD_PRELOAD=", "PHP_INI_SCAN_DIR="))]
    assert leaked == []

    name = unique("muatkode")
    with pytest.raises(InvalidRequest, match="tidak pernah dipindai"):
        host.deploy(spec(host, name, 1, php_release("satu"), env={"LD_PRELOAD": "/srv/app/storage/x.so"}))
    assert host.state.load(name) is None and containers_of(docker_client, name) == []


def test_stop_answers_503_and_start_brings_the_app_back(host: HostAgent, served: str) -> None:
    fqdn = f"{served}.contoh.go.id"
    stopped = host.stop(served)
    assert (stopped.desired, stopped.state) == ("stopped", "exited")
    assert fetch(host, fqdn)[0] == 503
    assert host.start(served).state == "running"
    assert fetch(host, fqdn)[0] == 200
    assert host.restart(served).state == "running"
    assert fetch(host, fqdn)[0] == 200


def test_logs_stats_and_facts(host: HostAgent, served: str) -> None:
    fetch(host, f"{served}.contoh.go.id", "/?jejak=1")
    deadline = time.monotonic() + 10  # the server logs after it answered; Docker ships it later
    while "/?jejak=1" not in host.logs(served, tail=50):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    while "/?jejak=1" not in host.logs(served, tail=50, source="access"):
        assert time.monotonic() < deadline  # nginx writes its buffered log within 2 s
        time.sleep(0.1)
    assert host.logs(served, tail=0) == ""
    assert host.logs(served, since=int(time.time()) + 3600) == ""
    stats = host.stats(served)
    assert stats is not None and 0 < stats.memory_bytes < stats.memory_limit_bytes
    assert stats.memory_limit_bytes == SMALL.memory_mb * 1024 * 1024 and stats.pids >= 1
    facts = host.facts()
    assert facts.cpus >= 1 and facts.memory_total_bytes > facts.memory_available_bytes > 0
    assert facts.docker_version and facts.nginx_version.startswith("nginx/")
    assert facts.mariadb_version and "MariaDB" in facts.mariadb_version
    assert served in facts.apps_running and facts.memory_committed_mb >= SMALL.memory_mb
    assert all(d["total_bytes"] >= d["free_bytes"] > 0 for d in facts.disk.values())


def test_rotated_logs_are_still_read_and_go_with_the_app(host: HostAgent) -> None:
    name = unique("jejak")
    host.deploy(spec(host, name, 1, php_release("log")))
    fetch(host, f"{name}.contoh.go.id", "/?jejak=lama")
    deadline = time.monotonic() + 10
    while "/?jejak=lama" not in host.logs(name, tail=5, source="access"):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    access, _error = host.vhosts.log_paths(name)

    assert access in host.rotate_logs(max_bytes=1)

    assert "/?jejak=lama" in access.with_name(access.name + ".1").read_text()
    assert "/?jejak=lama" in host.logs(name, tail=5, source="access")  # the page still shows it
    host.remove(name)
    assert not any(path.exists() for path in host.vhosts.log_files(name))


# --- frameworks and writable paths -------------------------------------------------------------------


LARAVEL = {
    "artisan": "#!/usr/bin/env php\n<?php\n",
    "bootstrap/app.php": "<?php return 1;\n",
    "storage/framework/views/.gitignore": "*\n",
    "public/index.php": (
        "<?php\n"
        "$ok = @file_put_contents(__DIR__.'/../storage/framework/views/tulis.txt', 'ya');\n"
        "$code = @file_put_contents(__DIR__.'/../app.php', 'tidak');\n"
        "echo $ok ? 'storage:ok' : 'storage:gagal', ' ', $code ? 'kode:tertulis' : 'kode:aman';\n"),
}
WORDPRESS_LIKE = {
    "wp-login.php": "<?php\n",
    "wp-includes/version.php": "<?php $wp_version = '6.1';\n",
    "index.php": (
        "<?php\n"
        "file_put_contents(__DIR__.'/wp-content/uploads/cangkang.php', '<?php echo \"DIBOBOL\";');\n"
        "file_put_contents(__DIR__.'/wp-content/uploads/foto.txt', 'gambar');\n"
        "echo 'unggahan:ok';\n"),
}


def test_laravel_gets_public_docroot_and_writable_storage_only(host: HostAgent) -> None:
    name = unique("laravel")
    result = host.deploy(spec(host, name, 1, LARAVEL))
    assert result.framework == "laravel" and result.docroot == "public"
    assert result.writable_paths == ["storage", "bootstrap/cache"]
    assert fetch(host, f"{name}.contoh.go.id")[1] == "storage:ok kode:aman"
    written = host.state.data_dir(name) / "storage" / "framework" / "views" / "tulis.txt"
    assert written.read_text() == "ya"
    host.deploy(spec(host, name, 2, LARAVEL))  # a new release finds the data of the old one
    assert written.read_text() == "ya"
    host.remove(name)
    assert not host.state.data_dir(name).exists()


def test_php_never_runs_from_a_writable_path(host: HostAgent) -> None:
    name = unique("wp")
    result = host.deploy(spec(host, name, 1, WORDPRESS_LIKE))
    assert result.framework == "wordpress" and result.writable_paths == ["wp-content/uploads"]
    fqdn = f"{name}.contoh.go.id"
    assert fetch(host, fqdn)[1] == "unggahan:ok"
    status, body, _ = fetch(host, fqdn, "/wp-content/uploads/cangkang.php")
    assert status == 403 and "DIBOBOL" not in body
    assert fetch(host, fqdn, "/wp-content/uploads/foto.txt")[1] == "gambar"
    host.remove(name)


def test_overrides_take_precedence_over_detection(host: HostAgent) -> None:
    name = unique("atur")
    files = dict(LARAVEL)
    files["web/index.php"] = "<?php echo 'web';\n"
    result = host.deploy(spec(host, name, 1, files, docroot="web", writable_paths=("cache",)))
    assert (result.docroot, result.writable_paths) == ("web", ["cache"])
    assert fetch(host, f"{name}.contoh.go.id")[1] == "web"
    host.remove(name)


def test_static_site_serves_its_docroot(host: HostAgent) -> None:
    name = unique("statis")
    host.deploy(spec(host, name, 1, {"dist/index.html": "<p>statis</p>", "README": "x"},
                     stack="static", docroot="dist"))
    fqdn = f"{name}.contoh.go.id"
    assert fetch(host, fqdn)[1] == "<p>statis</p>"
    assert fetch(host, fqdn, "/README")[0] == 404
    host.deploy(spec(host, name, 2, {"dist/index.html": "<p>statis</p>"}, stack="static",
                     docroot="dist", upload_max_mb=1))
    assert fetch(host, fqdn, method="POST", body=b"x" * (2 * 1024 * 1024))[0] == 413
    with pytest.raises(ArtifactRejected):
        host.deploy(spec(host, name, 3, {"index.html": "x"}, stack="static",
                         writable_paths=("uploads",)))
    host.remove(name)


# --- Dockerfile apps, retention ----------------------------------------------------------------------


def test_dockerfile_app_builds_from_a_runtime_image_only(host: HostAgent,
                                                         docker_client: docker.DockerClient) -> None:
    name = unique("dockerfile")
    files = {"Dockerfile": "FROM wadah/php:8.2\nCOPY index.php /srv/app/index.php\n",
             "index.php": "<?php echo 'dibangun';\n"}
    first = spec(host, name, 1, files, stack="dockerfile")
    built = host.build(first)
    result = host.deploy(first, image_id=built.image_id)
    assert fetch(host, f"{name}.contoh.go.id")[1] == "dibangun"
    record = host.state.load(name)
    assert record is not None and record.current is not None
    assert record.current.image == built.image_id
    image = docker_client.images.get(built.image_id)
    assert image.labels["org.wadah.app"] == name and result.release_id == 1
    assert not host.state.build_dir(name, 1).exists()  # the deploy took the build's image
    for dockerfile in ("FROM debian:bookworm\n", "ARG BASE=wadah/php:8.2\nFROM $BASE\n",
                       "FROM --platform=linux/amd64 wadah/php:8.2\n"):
        with pytest.raises(BuildFailed):
            host.build(spec(host, name, 2, {"Dockerfile": dockerfile, "index.php": "x"},
                            stack="dockerfile"))
    assert host.status(name).release_id == 1
    assert [i.id for i in docker_client.images.list(filters={"label": f"org.wadah.app={name}"})] \
        == [built.image_id]
    host.remove(name)
    assert [t for i in docker_client.images.list(filters={"label": f"org.wadah.app={name}"})
            for t in i.tags] == []


def test_old_releases_beyond_the_retention_are_dropped(host: HostAgent) -> None:
    name = unique("simpan")
    for release in range(1, defaults.KEEP_RELEASES + 3):
        host.deploy(spec(host, name, release, php_release(str(release))))
    status = host.status(name)
    newest = defaults.KEEP_RELEASES + 2
    assert status.release_id == newest
    assert status.previous_release_ids == [newest - 1 - i for i in range(defaults.KEEP_RELEASES)]
    assert len(list(host.state.releases_dir(name).iterdir())) == defaults.KEEP_RELEASES + 1
    host.rollback(name)
    assert fetch(host, f"{name}.contoh.go.id")[1].startswith(f"rilis {newest - 1}")
    report = host.prune()
    assert report.bytes_reclaimed >= 0
    host.remove(name)
