"""A hosted app's code writes into its writable paths until nothing is left; only its own volume fills.

Each app's writable data lives on a filesystem of its own (a sparse ext4 image, loop-mounted at its
data directory) whose size is the app's limit. Each test performs the attack on the real testbed, as
the app's own user inside its container and through nginx, and checks that the write is refused,
that the host's disk did not take it, and that the app and its neighbours go on.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import docker
import pytest

from agents import defaults
from agents.errors import InvalidRequest
from agents.host import HostAgent
from agents.volumes import MIB, Volumes
from tests.agents.support import containers_of, fetch, spec, unique
from tests.security.support import as_app

pytestmark = pytest.mark.slow

LIMIT_MB = 32
ATTEMPT_MB = 512  # what the attacker tries to write: far past its limit
UPLOADS = "/srv/app/uploads"

# The attacker's webshell: write 1 MiB at a time until the filesystem says no.
FILLER_APP = {
    "index.php": "<?php echo 'hidup';\n",
    "isi.php": (
        "<?php\n"
        "$f = fopen(__DIR__.'/uploads/isi-php.bin', 'wb');\n"
        "$chunk = str_repeat('x', 1048576); $written = 0; $error = '';\n"
        f"for ($i = 0; $i < {ATTEMPT_MB}; $i++) {{\n"
        "    $n = @fwrite($f, $chunk);\n"
        "    if ($n === false || $n < strlen($chunk)) {\n"
        "        $written += (int) $n; $error = error_get_last()['message'] ?? 'gagal'; break;\n"
        "    }\n"
        "    $written += $n;\n"
        "}\n"
        "@fclose($f);\n"
        "echo json_encode(['written' => $written, 'error' => $error]);\n"),
}


def deploy(host: HostAgent, name: str, storage_mb: int | None = None) -> Path:
    """Deploy the filler app with writable path `uploads`; return its data directory on the host."""
    fields = {} if storage_mb is None else {"storage_mb": storage_mb}
    host.deploy(spec(host, name, 1, FILLER_APP, writable_paths=("uploads",), **fields))
    return host.state.data_dir(name)


def fill(host: HostAgent, name: str, target: str, megabytes: int = ATTEMPT_MB) -> tuple[int, str]:
    """Write `megabytes` of zeros into `target` as the app's user; return dd's exit code and output."""
    (container,) = [c for c in host.runtime.owned(name) if c.status == "running"]
    code, output = container.exec_run(
        ["dd", "if=/dev/zero", f"of={target}", "bs=1M", f"count={megabytes}"],
        user=f"{defaults.APP_UID}:{defaults.APP_GID}")
    return code, output.decode(errors="replace")


def on_disk(path: Path) -> int:
    """Return the bytes `path` takes on its own filesystem (du -x: volumes mounted below it excluded)."""
    done = subprocess.run(["du", "-sx", "--block-size=1", str(path)], capture_output=True, text=True,
                          check=True)
    return int(done.stdout.split()[0])


def loop_backed(image: Path) -> bool:
    real = os.path.realpath(image)
    for backing in Path("/sys/block").glob("loop*/loop/backing_file"):
        try:
            if backing.read_text().strip().removesuffix(" (deleted)") == real:
                return True
        except OSError:
            continue
    return False


def test_a_tenant_filling_its_writable_path_fills_only_its_own_volume(host: HostAgent) -> None:
    name, neighbour = unique("penuh"), unique("tetangga")
    data = deploy(host, name, storage_mb=LIMIT_MB)
    deploy(host, neighbour)  # the default limit
    fqdn = f"{name}.contoh.go.id"
    state_before = on_disk(host.state.root)
    free_before = shutil.disk_usage(host.state.root).free

    status, body, _ = fetch(host, fqdn, "/isi.php")  # the webshell, through nginx
    code, output = fill(host, name, f"{UPLOADS}/dd.bin")  # and straight from a shell in the container

    assert status == 200
    attempt = json.loads(body)
    assert "No space left on device" in attempt["error"] and attempt["written"] < LIMIT_MB * MIB
    assert code != 0 and "No space left on device" in output
    # The host's disk took at most the limit: the image is sparse and no bigger than the limit, and
    # nothing reached the bare directory beneath the mount.
    image = host.volumes.image(name)
    assert image.stat().st_size == LIMIT_MB * MIB
    assert image.stat().st_blocks * 512 <= LIMIT_MB * MIB
    assert on_disk(host.state.root) - state_before <= LIMIT_MB * MIB
    # Measured on the shared disk too, where other work runs meanwhile: the attempt did not land.
    assert free_before - shutil.disk_usage(host.state.root).free < ATTEMPT_MB * MIB
    assert os.path.ismount(data) and os.major(os.stat(data / "uploads" / "dd.bin").st_dev) == 7
    usage = host.status(name).storage
    assert usage is not None and usage.limit_mb == LIMIT_MB and usage.mounted
    assert usage.free_bytes < MIB and usage.used_bytes > (LIMIT_MB - 8) * MIB
    # The app keeps serving, and its neighbour on the same host still writes its files.
    assert fetch(host, fqdn)[:2] == (200, "hidup")
    assert fill(host, neighbour, f"{UPLOADS}/foto.bin", 8)[0] == 0
    assert as_app(host, neighbour, "stat", "-c", "%s", f"{UPLOADS}/foto.bin").strip() == str(8 * MIB)
    neighbour_usage = host.status(neighbour).storage
    assert neighbour_usage is not None and neighbour_usage.limit_mb == defaults.STORAGE_DEFAULT_MB
    host.remove(name)
    host.remove(neighbour)


def test_raising_the_limit_lets_it_write_more_and_keeps_its_data(host: HostAgent) -> None:
    name = unique("tumbuh")
    data = deploy(host, name, storage_mb=LIMIT_MB)
    fqdn = f"{name}.contoh.go.id"
    as_app(host, name, "sh", "-c", f"echo arsip-penting > {UPLOADS}/tanda.txt")
    assert fill(host, name, f"{UPLOADS}/penuh.bin")[0] != 0

    grown = host.set_storage(name, 96)

    assert grown.storage is not None and grown.storage.limit_mb == 96 and grown.storage.mounted
    assert host.volumes.image(name).stat().st_size == 96 * MIB
    assert as_app(host, name, "cat", f"{UPLOADS}/tanda.txt") == "arsip-penting\n"
    assert fill(host, name, f"{UPLOADS}/lagi.bin", 40)[0] == 0
    assert fetch(host, fqdn)[:2] == (200, "hidup")

    # Shrinking below what the data takes is refused, and changes nothing.
    with pytest.raises(InvalidRequest, match="lebih kecil"):
        host.set_storage(name, LIMIT_MB)
    assert host.volumes.image(name).stat().st_size == 96 * MIB
    assert host.status(name).storage_mb == 96
    assert as_app(host, name, "cat", f"{UPLOADS}/tanda.txt") == "arsip-penting\n"

    # With room to spare it shrinks, briefly stopping the app, and the data stays.
    as_app(host, name, "rm", f"{UPLOADS}/penuh.bin", f"{UPLOADS}/lagi.bin")
    shrunk = host.set_storage(name, 48)

    assert shrunk.storage is not None and shrunk.storage.limit_mb == 48 and shrunk.state == "running"
    assert host.volumes.image(name).stat().st_size == 48 * MIB
    assert as_app(host, name, "cat", f"{UPLOADS}/tanda.txt") == "arsip-penting\n"
    assert fetch(host, fqdn)[:2] == (200, "hidup")
    assert os.path.ismount(data)
    host.remove(name)


def test_reconcile_mounts_the_volume_again_after_a_reboot(host: HostAgent,
                                                          docker_client: docker.DockerClient) -> None:
    name = unique("reboot")
    data = deploy(host, name, storage_mb=LIMIT_MB)
    as_app(host, name, "sh", "-c", f"echo sebelum-reboot > {UPLOADS}/tanda.txt")
    (container,) = containers_of(docker_client, name)
    # A reboot: the containers stop and the mounts are gone; the images stay.
    container.stop(timeout=2)
    subprocess.run(["umount", str(data)], check=True)
    assert not os.path.ismount(data) and os.listdir(data) == []
    # Docker restarting the container on its own finds no writable path to write past the limit.
    with pytest.raises(docker.errors.APIError):
        container.start()
    assert os.listdir(data) == []

    report = host.reconcile()

    assert f"{name}: volume data dipasang kembali" in report.actions and report.errors == []
    assert os.path.ismount(data)
    assert host.status(name).state == "running"
    assert as_app(host, name, "cat", f"{UPLOADS}/tanda.txt") == "sebelum-reboot\n"
    assert fill(host, name, f"{UPLOADS}/penuh.bin")[0] != 0  # still limited
    assert fetch(host, f"{name}.contoh.go.id")[:2] == (200, "hidup")
    host.remove(name)


def test_removing_the_app_leaves_no_mount_and_no_image(host: HostAgent) -> None:
    name = unique("hapus")
    data = deploy(host, name, storage_mb=LIMIT_MB)
    image = host.volumes.image(name)
    assert image.is_file() and os.path.ismount(data) and loop_backed(image)

    host.remove(name)

    assert not image.exists() and not os.path.ismount(data) and not data.exists()
    assert not loop_backed(image)
    assert name not in host.volumes.apps()


def test_data_kept_from_before_volumes_moves_onto_one_and_links_stay_links(host: HostAgent) -> None:
    name = unique("lama")
    data = host.state.data_dir(name)
    (data / "uploads").mkdir(parents=True)
    (data / "uploads" / "surat.txt").write_text("data lama\n")
    os.symlink("/etc/shadow", data / "uploads" / "tautan")
    os.lchown(data / "uploads", defaults.APP_UID, defaults.APP_GID)

    deploy(host, name, storage_mb=LIMIT_MB)

    assert os.path.ismount(data)
    assert (data / "uploads" / "surat.txt").read_text() == "data lama\n"
    assert os.readlink(data / "uploads" / "tautan") == "/etc/shadow"  # copied as a link, not followed
    assert as_app(host, name, "cat", f"{UPLOADS}/surat.txt") == "data lama\n"
    host.remove(name)


@pytest.mark.parametrize("storage_mb", [0, defaults.STORAGE_MIN_MB - 1, defaults.STORAGE_MAX_MB + 1,
                                        True])
def test_limits_outside_the_range_are_refused_and_nothing_is_made(host: HostAgent, storage_mb: int) -> None:
    name = unique("batas")
    with pytest.raises(InvalidRequest, match="batas penyimpanan"):
        deploy(host, name, storage_mb=storage_mb)
    assert not host.volumes.exists(name) and not host.state.data_dir(name).exists()
    assert host.state.load(name) is None


def test_an_agent_not_running_as_root_fails_clearly() -> None:
    # Its own state directory, where an unprivileged agent may go (pytest's tmp_path is root's only).
    root = Path(tempfile.mkdtemp(prefix="wadah-tanpa-root-"))
    try:
        directory, at = root / "volumes", root / "data"
        directory.mkdir()
        at.mkdir()
        for path in (root, directory, at):
            os.chmod(path, 0o755)
            os.chown(path, 65534, 65534)
        message = _as_nobody(lambda: Volumes(directory).ensure("tanpa-root", at / "tanpa-root",
                                                                LIMIT_MB))
        assert message.startswith("StorageError:") and "sebagai root" in message
        assert list(directory.iterdir()) == [] and not (at / "tanpa-root").exists()
    finally:
        shutil.rmtree(root)


def _as_nobody(action: Callable[[], object]) -> str:
    """Run `action` in a real unprivileged process (uid 65534); return the error it raised, if any."""
    read, write = os.pipe()
    child = os.fork()
    if child == 0:
        try:
            os.close(read)
            os.setgroups([])
            os.setresgid(65534, 65534, 65534)
            os.setresuid(65534, 65534, 65534)
            try:
                action()
            except BaseException as exc:  # reported to the parent, which asserts
                os.write(write, f"{type(exc).__name__}: {exc}".encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        message = pipe.read()
    os.waitpid(child, 0)
    return message
