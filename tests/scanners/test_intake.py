"""Safe intake: every class of unsafe upload is refused, nothing escapes the sandbox."""
from __future__ import annotations

import io
import os
import stat
import struct
import tarfile
import zipfile
from pathlib import Path

import pytest

from scanners.intake import Limits, RejectedUpload, open_upload
from scanners.scan import Scanner

SHELL = b"<?php system($_GET['c']); ?>\n"


# -- archive builders -----------------------------------------------------------------------------

def make_zip(path: Path, members: list[tuple[str | zipfile.ZipInfo, bytes]],
             compression: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return path


def make_tar(path: Path, members: list[tarfile.TarInfo | tuple[str, bytes]],
             mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as tf:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                tf.addfile(member)
            else:
                name, data = member
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    return path


def special_tar_member(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


def unix_zip_info(name: str, mode: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = mode << 16
    return info


def patch_zip_flags(path: Path, flag: int) -> None:
    """Set a general-purpose flag bit on every local and central header of a zip."""
    data = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        position = data.find(signature)
        while position >= 0:
            (flags,) = struct.unpack_from("<H", data, position + offset)
            struct.pack_into("<H", data, position + offset, flags | flag)
            position = data.find(signature, position + 4)
    path.write_bytes(bytes(data))


def rejected_code(path: Path, limits: Limits | None = None) -> str:
    with pytest.raises(RejectedUpload) as caught, open_upload(path, limits):
        pass
    return caught.value.code


# -- what is refused -------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["../evil.php", "a/../../evil.php", "..\\..\\evil.php"])
def test_zip_path_traversal_is_rejected(tmp_path: Path, name: str) -> None:
    archive = make_zip(tmp_path / "up.zip", [("ok.txt", b"ok"), (name, SHELL)])
    assert rejected_code(archive) == "path_traversal"
    assert not (tmp_path / "evil.php").exists()


def test_tar_path_traversal_is_rejected_and_writes_nothing_outside(tmp_path: Path) -> None:
    archive = make_tar(tmp_path / "up.tar.gz", [("ok.txt", b"ok"), ("../../evil.php", SHELL)])
    assert rejected_code(archive) == "path_traversal"
    assert not (tmp_path / "evil.php").exists()
    assert not (tmp_path.parent / "evil.php").exists()


@pytest.mark.parametrize("name", ["/etc/cron.d/evil", "C:/Windows/evil.php"])
def test_absolute_paths_are_rejected(tmp_path: Path, name: str) -> None:
    assert rejected_code(make_zip(tmp_path / "up.zip", [(name, SHELL)])) == "absolute_path"
    assert rejected_code(make_tar(tmp_path / "up.tar", [(name, SHELL)], "w")) == "absolute_path"


def test_zip_symlink_is_rejected(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "up.zip",
                       [(unix_zip_info("link", stat.S_IFLNK | 0o777), b"/etc/passwd")])
    assert rejected_code(archive) == "symlink"


def test_tar_symlink_and_hardlink_are_rejected(tmp_path: Path) -> None:
    symlink = make_tar(tmp_path / "s.tgz", [special_tar_member("x", tarfile.SYMTYPE, "/etc")])
    hardlink = make_tar(tmp_path / "h.tgz",
                        [("a.txt", b"a"), special_tar_member("b.txt", tarfile.LNKTYPE, "a.txt")])
    assert rejected_code(symlink) == "symlink"
    assert rejected_code(hardlink) == "hardlink"


@pytest.mark.parametrize("kind", [tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE])
def test_tar_devices_and_fifos_are_rejected(tmp_path: Path, kind: bytes) -> None:
    archive = make_tar(tmp_path / "up.tar", [special_tar_member("dev", kind)], "w")
    assert rejected_code(archive) == "special_file"


@pytest.mark.parametrize("mode", [stat.S_IFCHR | 0o600, stat.S_IFBLK | 0o600, stat.S_IFIFO | 0o600])
def test_zip_devices_and_fifos_are_rejected(tmp_path: Path, mode: int) -> None:
    archive = make_zip(tmp_path / "up.zip", [(unix_zip_info("dev", mode), b"")])
    assert rejected_code(archive) == "special_file"


def test_directory_with_symlink_fifo_or_hardlink_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "index.php").write_bytes(b"<?php echo 1;")
    os.symlink("/etc/passwd", tmp_path / "a" / "passwd")
    assert rejected_code(tmp_path / "a") == "symlink"

    (tmp_path / "b").mkdir()
    os.mkfifo(tmp_path / "b" / "pipe")
    assert rejected_code(tmp_path / "b") == "special_file"

    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "one").write_bytes(b"x")
    os.link(tmp_path / "c" / "one", tmp_path / "c" / "two")
    assert rejected_code(tmp_path / "c") == "hardlink"


def test_encrypted_zip_member_is_rejected(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "up.zip", [("secret.php", SHELL)], zipfile.ZIP_STORED)
    patch_zip_flags(archive, 0x1)
    assert rejected_code(archive) == "encrypted"


def test_overlapping_zip_entries_are_rejected(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "up.zip", [("a.txt", b"A" * 200)], zipfile.ZIP_STORED)
    data = archive.read_bytes()
    start = data.find(b"PK\x01\x02")
    end = data.find(b"PK\x05\x06")
    central = data[start:end]
    # A second directory record pointing at the same local header and data (a "zip bomb" trick).
    twin = central.replace(b"a.txt", b"b.txt")
    eocd = bytearray(data[end:])
    struct.pack_into("<HH", eocd, 8, 2, 2)
    struct.pack_into("<I", eocd, 12, len(central) * 2)
    archive.write_bytes(data[:start] + central + twin + bytes(eocd))
    assert rejected_code(archive) == "overlapping_entries"


def test_zip_entry_lying_about_its_size_is_rejected(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "up.zip", [("a.php", SHELL)], zipfile.ZIP_STORED)
    data = bytearray(archive.read_bytes())
    central = data.find(b"PK\x01\x02")
    struct.pack_into("<I", data, central + 24, 4)  # uncompressed size says 4 bytes
    archive.write_bytes(bytes(data))
    assert rejected_code(archive) == "lying_entry"


def test_duplicate_entries_are_rejected(tmp_path: Path) -> None:
    with pytest.warns(UserWarning):
        archive = make_zip(tmp_path / "up.zip", [("index.php", b"<?php echo 1;"),
                                                 ("index.php", SHELL)])
    assert rejected_code(archive) == "duplicate_entry"
    tar = make_tar(tmp_path / "up.tgz", [("index.php", b"<?php echo 1;"), ("index.php", SHELL)])
    assert rejected_code(tar) == "duplicate_entry"


@pytest.mark.parametrize("name", ["a\x07.php", "invoice\u202egnp.php", "line\nbreak.txt"])
def test_control_characters_in_names_are_rejected(tmp_path: Path, name: str) -> None:
    assert rejected_code(make_zip(tmp_path / "up.zip", [(name, b"x")])) == "control_characters"
    assert rejected_code(make_tar(tmp_path / "up.tgz", [(name, b"x")])) == "control_characters"


def test_too_many_files_is_rejected(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "up.zip", [(f"f{i}.txt", b"x") for i in range(5)])
    assert rejected_code(archive, Limits(max_files=3)) == "too_many_files"
    tar = make_tar(tmp_path / "up.tgz", [(f"f{i}.txt", b"x") for i in range(5)])
    assert rejected_code(tar, Limits(max_files=3)) == "too_many_files"


def test_total_size_limit_is_enforced(tmp_path: Path) -> None:
    members = [(f"f{i}.bin", os.urandom(4096)) for i in range(4)]
    limits = Limits(max_total_bytes=10_000)
    assert rejected_code(make_zip(tmp_path / "up.zip", members), limits) == "too_large"
    assert rejected_code(make_tar(tmp_path / "up.tgz", members), limits) == "too_large"


def test_compression_ratio_limit_catches_bombs(tmp_path: Path) -> None:
    zeros = b"\x00" * (4 * 1024 * 1024)
    assert rejected_code(make_zip(tmp_path / "bomb.zip", [("z.bin", zeros)])) == "ratio_exceeded"
    assert rejected_code(make_tar(tmp_path / "bomb.tgz", [("z.bin", zeros)])) == "ratio_exceeded"


def test_nesting_depth_is_limited(tmp_path: Path) -> None:
    inner = make_zip(tmp_path / "l3.zip", [("shell.php", SHELL)])
    for level in (2, 1, 0):
        inner = make_zip(tmp_path / f"l{level}.zip", [(inner.name, inner.read_bytes())])
    assert rejected_code(inner, Limits(max_depth=2)) == "nesting_too_deep"
    with open_upload(inner, Limits(max_depth=3)) as tree:
        assert "l1.zip!/l2.zip!/l3.zip!/shell.php" in {entry.path for entry in tree.files}


def test_corrupt_archive_is_rejected(tmp_path: Path) -> None:
    bad = tmp_path / "broken.zip"
    bad.write_bytes(b"PK\x03\x04" + os.urandom(200))
    assert rejected_code(bad) == "corrupt_archive"
    bad_tar = tmp_path / "broken.tar.gz"
    bad_tar.write_bytes(b"\x1f\x8b\x08\x00" + os.urandom(200))
    assert rejected_code(bad_tar) == "corrupt_archive"


# -- what is accepted ------------------------------------------------------------------------------

@pytest.mark.parametrize("suffix,mode", [(".zip", None), (".tar", "w"), (".tar.gz", "w:gz"),
                                         (".tgz", "w:gz")])
def test_every_archive_type_is_unpacked_and_scanned(tmp_path: Path, offline_scanner: Scanner,
                                                    suffix: str, mode: str | None) -> None:
    members = [("app/index.php", b"<?php echo 'halo';"), ("app/up/shell.php", SHELL)]
    archive = tmp_path / f"upload{suffix}"
    if mode is None:
        make_zip(archive, members)
    else:
        make_tar(archive, list(members), mode)
    report = offline_scanner.scan(archive)
    assert report.verdict.value == "infected"
    assert report.files == 2
    assert {f.path for f in report.findings} == {"app/up/shell.php"}


def test_nested_archives_are_scanned(tmp_path: Path, offline_scanner: Scanner) -> None:
    inner = make_tar(tmp_path / "vendor.tgz", [("lib/x.php", SHELL)])
    outer = make_zip(tmp_path / "upload.zip", [("index.php", b"<?php echo 1;"),
                                               ("assets/vendor.tgz", inner.read_bytes())])
    report = offline_scanner.scan(outer)
    assert report.verdict.value == "infected"
    assert "assets/vendor.tgz!/lib/x.php" in {f.path for f in report.findings}


def test_sandbox_is_private_and_removed_even_on_errors(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    archive = make_zip(tmp_path / "up.zip", [("a.txt", b"a")])
    with open_upload(archive, workdir=str(work)) as tree:
        sandbox = Path(tree.roots[-1])
        assert stat.S_IMODE(sandbox.stat().st_mode) == 0o700
        assert stat.S_IMODE(Path(tree.files[0].fs_path).stat().st_mode) == 0o600
    assert list(work.iterdir()) == []

    with pytest.raises(RuntimeError), open_upload(archive, workdir=str(work)):
        raise RuntimeError("engine crashed")
    assert list(work.iterdir()) == []

    bad = make_zip(tmp_path / "bad.zip", [("ok.txt", b"x"), ("../x", b"x")])
    with pytest.raises(RejectedUpload), open_upload(bad, workdir=str(work)):
        pass
    assert list(work.iterdir()) == []


def test_rejected_upload_gives_rejected_verdict_with_reason(tmp_path: Path,
                                                            offline_scanner: Scanner) -> None:
    archive = make_zip(tmp_path / "up.zip", [("../../etc/evil", SHELL)])
    report = offline_scanner.scan(archive)
    assert report.verdict.value == "rejected"
    assert report.exit_code == 3
    assert report.reason_code == "path_traversal"
    assert "../../etc/evil" in (report.reason or "")


def test_directory_upload_is_scanned_in_place(tmp_path: Path, offline_scanner: Scanner) -> None:
    (tmp_path / "site" / "uploads").mkdir(parents=True)
    (tmp_path / "site" / "index.php").write_bytes(b"<?php echo 'ok';")
    (tmp_path / "site" / "uploads" / "x.php").write_bytes(SHELL)
    report = offline_scanner.scan(tmp_path / "site")
    assert report.verdict.value == "infected"
    assert report.files == 2
    assert {f.path for f in report.findings} == {"uploads/x.php"}


def test_missing_path_is_an_error(tmp_path: Path, offline_scanner: Scanner) -> None:
    report = offline_scanner.scan(tmp_path / "nope.zip")
    assert report.verdict.value == "error"
    assert report.exit_code == 4
