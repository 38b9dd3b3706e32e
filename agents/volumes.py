"""Each app's writable data on a filesystem of its own, so a tenant fills its own volume, never the host.

An app's volume is a sparse ext4 image in the state directory (`volumes/<app>.img`), loop-mounted
`nosuid,nodev,noexec` at the app's data directory before anything is seeded there or bind-mounted
into a container; the image's size is the app's limit. The image outlives its mount: after a reboot
reconcile mounts it again, and removing the app unmounts it and deletes the image.

Every tool runs from an argument list with a timeout, and every failure is a StorageError. The
mount must be where Docker resolves bind mounts: with `mounter="mount"` the agent mounts itself (it
shares the host's mount namespace and holds CAP_SYS_ADMIN); with `mounter="systemd"`, as under the
sandbox of its systemd unit (a mount namespace of its own, no CAP_SYS_ADMIN, no /dev/loop*), PID 1
mounts and unmounts for it (systemd-mount, systemd-umount) in the host's namespace.
"""
from __future__ import annotations

import contextlib
import logging
import os
import re
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from agents import defaults, tenantfs
from agents.errors import InvalidRequest, StorageError
from agents.protocol import InvalidName, app_name

logger = logging.getLogger(__name__)

MIB = 1024 * 1024
LOOP_MAJOR = 7
_TOOL_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"}
_MINIMUM = re.compile(r"Estimated minimum size of the filesystem:\s*(\d+)")
MOUNTERS = ("mount", "systemd")


@dataclass(frozen=True)
class VolumeUsage:
    """How full an app's volume is (all zero when it is not mounted)."""

    limit_mb: int  # the image's size
    mounted: bool
    total_bytes: int  # what the filesystem offers: the limit less its own metadata
    used_bytes: int
    free_bytes: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Volumes:
    """The data volumes of one host's apps: make, mount, resize, unmount, remove."""

    def __init__(self, directory: Path | str, mounter: str = "mount") -> None:
        if mounter not in MOUNTERS:
            raise ValueError(f"cara memasang volume tidak dikenal: {mounter!r}")
        self.directory = Path(directory)
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.mounter = mounter

    # --- reading ---------------------------------------------------------------------------------

    def image(self, app: str) -> Path:
        return self.directory / f"{app_name(app)}.img"

    def exists(self, app: str) -> bool:
        return self.image(app).is_file()

    def apps(self) -> list[str]:
        """Return the apps that have a volume image here."""
        found = []
        for path in self.directory.glob("*.img"):
            with contextlib.suppress(InvalidName):
                found.append(app_name(path.stem))
        return sorted(found)

    def size_mb(self, app: str) -> int:
        return self.image(app).stat().st_size // MIB

    def mounted(self, app: str, at: Path) -> bool:
        """Tell whether the app's image is what is mounted at `at`, as this process sees it."""
        device = _loop_device(at)
        return device is not None and _backing_file(device) == os.path.realpath(self.image(app))

    def usage(self, app: str, at: Path) -> VolumeUsage | None:
        """Return how full the app's volume is, or None if it has none."""
        try:
            limit_mb = self.size_mb(app)
        except FileNotFoundError:
            return None
        if not self.mounted(app, at):
            return VolumeUsage(limit_mb, False, 0, 0, 0)
        found = os.statvfs(at)
        return VolumeUsage(limit_mb, True, total_bytes=found.f_blocks * found.f_frsize,
                           used_bytes=(found.f_blocks - found.f_bfree) * found.f_frsize,
                           free_bytes=found.f_bavail * found.f_frsize)

    # --- making and mounting ---------------------------------------------------------------------

    def ensure(self, app: str, at: Path, limit_mb: int) -> bool:
        """Mount the app's volume at `at`, making it `limit_mb` large first if it has none.

        Data already in `at` (kept from before the app had a volume) is moved onto the new volume.
        Return whether anything had to be done.
        """
        if self.mounted(app, at):
            return False
        _require_root()
        at.mkdir(mode=0o755, parents=True, exist_ok=True)
        if os.path.ismount(at):
            raise StorageError(f"{at} sudah dipakai sebagai titik kait lain; volume {app} tidak dipasang")
        if not self.exists(app):
            self._create(app, limit_mb)
            try:
                with os.scandir(at) as entries:
                    if any(True for _ in entries):
                        self._adopt(app, at)
            except BaseException:
                self.image(app).unlink(missing_ok=True)
                raise
        self._mount(self.image(app), at)
        if not self.mounted(app, at):
            raise StorageError(f"volume {app} dipasang tetapi tidak terlihat di {at}; periksa"
                               " namespace mount agen")
        logger.info("mounted the data volume of %s (%d MiB) at %s", app, self.size_mb(app), at)
        return True

    def _create(self, app: str, limit_mb: int) -> None:
        """Make the app's image: sparse, formatted, and in place only once it is whole."""
        image = self.image(app)
        partial = image.with_name(f".{image.name}.new")
        partial.unlink(missing_ok=True)
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            os.ftruncate(fd, limit_mb * MIB)
        finally:
            os.close(fd)
        low, high = defaults.VOLUME_JOURNAL_MB
        journal_mb = max(low, min(high, limit_mb // 64))
        try:
            self._run(["mkfs.ext4", "-q", "-F", "-m", "0", "-b", str(defaults.VOLUME_BLOCK_BYTES),
                       "-J", f"size={journal_mb}", "-E", "root_owner=0:0", str(partial)])
            os.replace(partial, image)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise

    def _adopt(self, app: str, at: Path) -> None:
        """Copy the data in `at` onto the app's new volume, then clear `at` (it becomes the mount point)."""
        scratch = self.directory / f".{app}.adopt"
        scratch.mkdir(mode=0o700, exist_ok=True)
        self._mount(self.image(app), scratch)
        try:
            # -a copies links as links and never follows them; a sparse file stays sparse.
            self._run(["cp", "-a", "--sparse=always", "--one-file-system", "--", f"{at}/.",
                       f"{scratch}/"], timeout=defaults.VOLUME_CHECK_TIMEOUT_S,
                      what=f"memindahkan data lama {app} ke volumenya (batas {self.size_mb(app)} MiB)")
        finally:
            self._unmount(scratch)
            scratch.rmdir()
        # The copy is whole: clearing the old one is best effort (what stays is hidden by the mount).
        with os.scandir(at) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    tenantfs.remove_tree(Path(entry.path))
                else:
                    with contextlib.suppress(OSError):
                        os.unlink(entry.path)
        logger.info("moved the existing data of %s onto its new volume", app)

    # --- resizing --------------------------------------------------------------------------------

    def grow_online(self, app: str, at: Path, limit_mb: int) -> bool:
        """Grow the mounted volume to `limit_mb` while the app runs; return False if the kernel refuses.

        Online growth needs the loop device and CAP_SYS_RESOURCE (neither is in the systemd sandbox);
        where the kernel refuses, the image is already larger and `resize_offline` finishes the job.
        """
        _require_root()
        device = _loop_device(at)
        if device is None or not self.mounted(app, at):
            raise StorageError(f"volume {app} tidak terpasang di {at}")
        if limit_mb <= self.size_mb(app):
            raise InvalidRequest("volume hanya dapat diperbesar selagi aplikasi berjalan")
        if self.mounter == "systemd":
            return False
        self._extend(self.image(app), limit_mb)
        try:
            self._run(["losetup", "--set-capacity", device])
            self._run(["resize2fs", device], timeout=defaults.VOLUME_CHECK_TIMEOUT_S)
        except StorageError as exc:
            logger.info("online growth of %s refused, done offline instead: %s %s", app, exc,
                        exc.output)
            return False
        return True

    def resize_offline(self, app: str, at: Path, limit_mb: int) -> None:
        """Give the volume `limit_mb`, unmounted; nothing may use it meanwhile. It is mounted after.

        Shrinking below what the data needs is refused (InvalidRequest) and changes nothing.
        """
        _require_root()
        image = self.image(app)
        self.unmount(app, at)
        try:
            self._run(["e2fsck", "-f", "-p", str(image)], ok=(0, 1),
                      timeout=defaults.VOLUME_CHECK_TIMEOUT_S)
            if limit_mb * MIB >= image.stat().st_size:
                self._extend(image, limit_mb)
                self._run(["resize2fs", str(image)], timeout=defaults.VOLUME_CHECK_TIMEOUT_S)
            else:
                needed = self._minimum_bytes(image)
                if needed > limit_mb * MIB:
                    raise InvalidRequest(
                        f"data aplikasi {app} membutuhkan sedikitnya {-(-needed // MIB)} MiB;"
                        f" batas {limit_mb} MiB terlalu kecil")
                self._run(["resize2fs", str(image), f"{limit_mb}M"],
                          timeout=defaults.VOLUME_CHECK_TIMEOUT_S)
                os.truncate(image, limit_mb * MIB)
        finally:
            self._mount(image, at)

    def _minimum_bytes(self, image: Path) -> int:
        output = self._run(["resize2fs", "-P", str(image)], timeout=defaults.VOLUME_CHECK_TIMEOUT_S)
        found = _MINIMUM.search(output)
        if found is None:
            raise StorageError("resize2fs tidak menyebut ukuran minimum volume", output=output)
        return int(found[1]) * defaults.VOLUME_BLOCK_BYTES

    @staticmethod
    def _extend(image: Path, limit_mb: int) -> None:
        fd = os.open(image, os.O_WRONLY | os.O_NOFOLLOW)
        try:
            if os.fstat(fd).st_size < limit_mb * MIB:
                os.ftruncate(fd, limit_mb * MIB)  # sparse: the host's disk is used only as data comes
        finally:
            os.close(fd)

    # --- unmounting and removing -----------------------------------------------------------------

    def unmount(self, app: str, at: Path) -> None:
        """Unmount the app's volume if it is mounted; fail if something still holds it."""
        if self.mounted(app, at):
            _require_root()
            self._unmount(at)
        self._wait_detached(app)

    def remove(self, app: str, at: Path) -> None:
        """Unmount the app's volume and delete its image (and its data with it)."""
        if not self.exists(app) and not self.mounted(app, at):
            return
        self.unmount(app, at)
        self.image(app).unlink(missing_ok=True)
        logger.info("removed the data volume of %s", app)

    def _wait_detached(self, app: str) -> None:
        """Wait until no loop device serves the image (mount's autoclear lets go after the unmount)."""
        image = os.path.realpath(self.image(app))
        deadline = time.monotonic() + defaults.VOLUME_DETACH_WAIT_S
        while any(_backing_file(device) == image for device in _loop_devices()):
            if time.monotonic() >= deadline:
                raise StorageError(f"volume {app} masih dipakai (kontainer atau proses lain);"
                                   " tidak dilepas")
            time.sleep(0.05)

    # --- the tools -------------------------------------------------------------------------------

    def _mount(self, image: Path, at: Path) -> None:
        # mount(8) reuses the loop device of an image already attached, so one filesystem is never
        # mounted through two devices at once.
        options = defaults.VOLUME_MOUNT_OPTIONS
        if self.mounter == "systemd":
            self._run(["systemd-mount", "--no-ask-password", "--type=ext4", f"--options={options}",
                       "--fsck=no", "--collect", "--", str(image), str(at)])
        else:
            self._run(["mount", "-t", "ext4", "-o", options, str(image), str(at)])

    def _unmount(self, at: Path) -> None:
        if self.mounter == "systemd":
            self._run(["systemd-umount", "--no-ask-password", "--", str(at)])
        else:
            self._run(["umount", str(at)])

    def _run(self, command: list[str], ok: tuple[int, ...] = (0,),
             timeout: float = defaults.VOLUME_COMMAND_TIMEOUT_S, what: str | None = None) -> str:
        """Run one tool; return its output or raise StorageError with what it printed."""
        doing = what or command[0]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                                  env=_TOOL_ENV, check=False)
        except FileNotFoundError as exc:
            raise StorageError(f"{command[0]} tidak ada di host ini") from exc
        except subprocess.TimeoutExpired as exc:
            raise StorageError(f"{doing}: tidak selesai dalam {timeout:.0f} detik") from exc
        output = (done.stdout + done.stderr).strip()
        if done.returncode not in ok:
            raise StorageError(f"{doing} gagal (kode {done.returncode})", output=output[-2000:])
        return output


# --- small helpers -------------------------------------------------------------------------------


def _require_root() -> None:
    if os.geteuid() != 0:
        raise StorageError("volume data aplikasi hanya dapat dipasang oleh agen yang berjalan sebagai"
                           " root (mount, losetup, mkfs.ext4)")


def _loop_device(at: Path) -> str | None:
    """Return the loop device mounted at `at` (e.g. /dev/loop3), or None if `at` is not one."""
    try:
        here, parent = os.stat(at), os.stat(at.parent)
    except FileNotFoundError:
        return None
    if here.st_dev == parent.st_dev or os.major(here.st_dev) != LOOP_MAJOR:
        return None
    return "/dev/" + Path(f"/sys/dev/block/{LOOP_MAJOR}:{os.minor(here.st_dev)}").resolve().name


def _loop_devices() -> list[str]:
    return [f"/dev/{path.parent.name}" for path in Path("/sys/block").glob("loop*/loop")]


def _backing_file(device: str) -> str | None:
    """Return the file behind loop `device`, or None if it serves none."""
    name = Path(device).name
    try:
        text = Path(f"/sys/block/{name}/loop/backing_file").read_text().rstrip("\n")
    except OSError:
        return None
    return text.removesuffix(" (deleted)")


__all__ = ["Volumes", "VolumeUsage"]
