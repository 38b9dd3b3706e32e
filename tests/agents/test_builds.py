"""The files a build's layers leave above the runtime image, as the storage driver stacks them.

The layers here are made by hand in the format `docker save` gives (tars with `.wh.` whiteouts), so
every case the driver knows can be stated; tests/agents/test_host_builds.py reads real ones.
"""
from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from agents.builds import OutputLimits, changed_files
from agents.errors import BuildFailed
from scanners.intake import RejectedUpload, open_upload

Entry = tuple[str, bytes | str | None]  # (path, content): bytes a file, "/" a directory,
#                                         "->x" a symlink to x, "=>x" a hard link to x, None a fifo


def layer(path: Path, entries: list[Entry]) -> Path:
    with tarfile.open(path, "w") as tar:
        for name, content in entries:
            info = tarfile.TarInfo(name)
            data = None
            if content == "/":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
            elif isinstance(content, str) and content.startswith("->"):
                info.type, info.linkname = tarfile.SYMTYPE, content[2:]
            elif isinstance(content, str) and content.startswith("=>"):
                info.type, info.linkname = tarfile.LNKTYPE, content[2:]
            elif content is None:
                info.type = tarfile.FIFOTYPE
            else:
                assert isinstance(content, bytes)
                data, info.size, info.mode = content, len(content), 0o644
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def bundle(tmp_path: Path, files: dict[str, bytes]) -> Path:
    root = tmp_path / "bundle"
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    root.mkdir(exist_ok=True)
    return root


def contents(path: Path) -> dict[str, bytes | str]:
    found: dict[str, bytes | str] = {}
    with tarfile.open(path) as tar:
        for member in tar:
            if member.isfile():
                handle = tar.extractfile(member)
                assert handle is not None
                found[member.name] = handle.read()
            else:
                found[member.name] = f"type {member.type.decode()} {member.linkname}".strip()
    return found


WEBSHELL = b'<?php eval($_GET["c"]);\n'


def test_files_the_build_wrote_are_kept_and_copies_of_the_bundle_left_out(tmp_path: Path) -> None:
    context = bundle(tmp_path, {"index.php": b"<?php echo 1;\n", "lib/a.php": b"<?php // a\n"})
    copy = layer(tmp_path / "1.tar", [("srv", "/"), ("srv/app", "/"),
                                      ("srv/app/index.php", b"<?php echo 1;\n"),
                                      ("srv/app/lib", "/"), ("srv/app/lib/a.php", b"<?php // a\n")])
    run = layer(tmp_path / "2.tar", [("srv/app/s.php", WEBSHELL),
                                     # the bundle's bytes, under another name: scanned again
                                     ("srv/app/lib/a.phtml", b"<?php // a\n"),
                                     # the bundle's name, other bytes
                                     ("srv/app/index.php", b"<?php echo 2;\n"),
                                     ("etc/php/conf.d/99.ini", b"auto_prepend_file=/srv/app/s.php\n")])
    output = changed_files([copy, run], context, tmp_path / "out.tar")
    assert contents(tmp_path / "out.tar") == {
        "etc/php/conf.d/99.ini": b"auto_prepend_file=/srv/app/s.php\n",
        "srv/app/index.php": b"<?php echo 2;\n",
        "srv/app/lib/a.phtml": b"<?php // a\n",
        "srv/app/s.php": WEBSHELL,
    }
    assert (output.files, output.unchanged, output.unchanged_paths) == (4, 1, ["srv/app/lib/a.php"])
    assert output.size == (tmp_path / "out.tar").stat().st_size and len(output.sha256) == 64


def test_whiteouts_are_deletions_not_files(tmp_path: Path) -> None:
    context = bundle(tmp_path, {})
    first = layer(tmp_path / "1.tar", [("srv/app/tmp", "/"), ("srv/app/tmp/x.php", WEBSHELL),
                                       ("srv/app/y.php", WEBSHELL), ("srv/app/keep.php", b"k")])
    second = layer(tmp_path / "2.tar", [("srv/app/tmp/.wh..wh..opq", b""),
                                        ("srv/app/tmp/new.txt", b"n"),
                                        ("srv/app/.wh.y.php", b""),
                                        ("etc/.wh.php.ini", b"")])
    output = changed_files([first, second], context, tmp_path / "out.tar")
    assert set(contents(tmp_path / "out.tar")) == {"srv/app/keep.php", "srv/app/tmp/new.txt"}
    assert output.deleted_paths == ["etc/php.ini", "srv/app/tmp/*", "srv/app/y.php"]
    assert output.deleted == 3


def test_a_path_written_again_after_its_deletion_is_a_file(tmp_path: Path) -> None:
    first = layer(tmp_path / "1.tar", [("srv/app/.wh.s.php", b"")])
    second = layer(tmp_path / "2.tar", [("srv/app/s.php", WEBSHELL)])
    output = changed_files([first, second], bundle(tmp_path, {}), tmp_path / "out.tar")
    assert contents(tmp_path / "out.tar") == {"srv/app/s.php": WEBSHELL} and output.deleted == 0


def test_a_file_in_place_of_a_directory_drops_what_was_below(tmp_path: Path) -> None:
    first = layer(tmp_path / "1.tar", [("srv/app/d", "/"), ("srv/app/d/e", "/"),
                                       ("srv/app/d/e/x.php", WEBSHELL), ("srv/app/f.php", b"f")])
    second = layer(tmp_path / "2.tar", [("srv/app/d", b"now a file"), ("srv/app/f.php", "/"),
                                        ("srv/app/f.php/g.php", b"g")])
    changed_files([first, second], bundle(tmp_path, {}), tmp_path / "out.tar")
    assert contents(tmp_path / "out.tar") == {"srv/app/d": b"now a file",
                                              "srv/app/f.php/g.php": b"g"}


def test_hard_links_ship_their_bytes(tmp_path: Path) -> None:
    built = layer(tmp_path / "1.tar", [("usr/lib/shell.php", WEBSHELL),
                                       ("srv/app/s.php", "=>usr/lib/shell.php")])
    changed_files([built], bundle(tmp_path, {}), tmp_path / "out.tar")
    assert contents(tmp_path / "out.tar") == {"srv/app/s.php": WEBSHELL,
                                              "usr/lib/shell.php": WEBSHELL}


def test_links_and_special_files_ship_as_they_are_and_the_scanner_refuses_them(
        tmp_path: Path) -> None:
    built = layer(tmp_path / "1.tar", [("srv/app/p.txt", "->/etc/passwd"),
                                       ("srv/app/pipe", None)])
    output = changed_files([built], bundle(tmp_path, {}), tmp_path / "out.tar")
    assert contents(tmp_path / "out.tar") == {"srv/app/p.txt": "type 2 /etc/passwd",
                                              "srv/app/pipe": "type 6"}
    assert output.files == 2
    with pytest.raises(RejectedUpload):
        with open_upload(str(tmp_path / "out.tar")):
            pass


def test_a_bundle_link_never_counts_as_the_same_file(tmp_path: Path) -> None:
    context = bundle(tmp_path, {"real.php": WEBSHELL})
    (context / "index.php").symlink_to("real.php")
    built = layer(tmp_path / "1.tar", [("srv/app/index.php", WEBSHELL)])
    output = changed_files([built], context, tmp_path / "out.tar")
    assert output.unchanged == 0 and set(contents(tmp_path / "out.tar")) == {"srv/app/index.php"}


@pytest.mark.parametrize("limits", [OutputLimits(max_files=2), OutputLimits(max_bytes=50),
                                    OutputLimits(max_entries=4)])
def test_a_build_that_makes_too_much_is_refused(tmp_path: Path, limits: OutputLimits) -> None:
    built = layer(tmp_path / "1.tar", [(f"srv/app/{n}.txt", b"x" * 20) for n in range(5)])
    with pytest.raises(BuildFailed):
        changed_files([built], bundle(tmp_path, {}), tmp_path / "out.tar", limits)


def test_no_layers_make_an_empty_tar(tmp_path: Path) -> None:
    output = changed_files([], bundle(tmp_path, {}), tmp_path / "out.tar")
    assert (output.files, output.unchanged, output.deleted) == (0, 0, 0)
    assert contents(tmp_path / "out.tar") == {}
