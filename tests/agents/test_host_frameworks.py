"""Recognising Laravel, CodeIgniter 3/4 and WordPress, and the paths an app may name (no services)."""
from __future__ import annotations

from pathlib import Path

import pytest

from agents import frameworks
from agents.errors import ArtifactRejected, BuildFailed, InvalidRequest
from agents.releases import dockerfile_base, layout


def tree(root: Path, *files: str) -> Path:
    for name in files:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("<?php\n")
    return root


@pytest.mark.parametrize("files, name, docroot, writable", [
    (("artisan", "bootstrap/app.php", "public/index.php"), "laravel", "public",
     ("storage", "bootstrap/cache")),
    (("spark", "app/Config/App.php", "public/index.php"), "codeigniter4", "public", ("writable",)),
    (("system/core/CodeIgniter.php", "application/config/config.php", "index.php"),
     "codeigniter3", ".", ("application/cache", "uploads")),
    (("wp-login.php", "wp-includes/version.php", "index.php"), "wordpress", ".",
     ("wp-content/uploads",)),
    (("index.php", "public/index.php"), "generic", ".", ()),
])
def test_frameworks_are_recognised_with_their_defaults(tmp_path: Path, files: tuple[str, ...],
                                                       name: str, docroot: str,
                                                       writable: tuple[str, ...]) -> None:
    found, chosen_docroot, chosen_writable = layout(tree(tmp_path, *files), "php", None, None)
    assert (found.name, chosen_docroot, chosen_writable) == (name, docroot, writable)
    for path in writable:  # mount points exist in the read-only code tree
        assert (tmp_path / path).is_dir()


def test_overrides_win_and_are_normalised(tmp_path: Path) -> None:
    root = tree(tmp_path, "artisan", "bootstrap/app.php", "web/index.php")
    found, docroot, writable = layout(root, "php", "./web/", ("files/", "cache//x"))
    assert (found.name, docroot, writable) == ("laravel", "web", ("files", "cache/x"))
    assert layout(root, "php", "web", ())[2] == ()  # no writable paths at all


@pytest.mark.parametrize("value", ["../x", "/etc", "a/../../b", "a\\b", "a b", "a;b", "", "é"])
def test_paths_leaving_the_app_or_odd_are_refused(value: str) -> None:
    with pytest.raises(InvalidRequest):
        frameworks.relative_path(value)


def test_the_whole_app_or_overlapping_paths_may_not_be_writable(tmp_path: Path) -> None:
    root = tree(tmp_path, "index.php")
    for writable in ((".",), ("storage", "storage/app")):
        with pytest.raises(InvalidRequest):
            layout(root, "php", None, writable)


def test_missing_docroot_or_a_file_as_writable_path_are_rejected(tmp_path: Path) -> None:
    root = tree(tmp_path, "index.php", "uploads")
    with pytest.raises(ArtifactRejected):
        layout(root, "php", "public", None)
    with pytest.raises(ArtifactRejected):
        layout(root, "php", None, ("uploads",))


@pytest.mark.parametrize("text, stack", [
    ("FROM wadah/php:8.2\nRUN true\n", "php"),
    ("from wadah/static:latest\n", "static"),
    ("FROM wadah/php:8.2 AS build\nRUN x\nFROM wadah/static\nCOPY --from=build /a /b\n", "static"),
    ("FROM wadah/php:8.2 AS base\nFROM base\n", "php"),
])
def test_dockerfiles_built_on_runtime_images_are_allowed(tmp_path: Path, text: str,
                                                         stack: str) -> None:
    (tmp_path / "Dockerfile").write_text(text)
    assert dockerfile_base(tmp_path, "Dockerfile") == stack


@pytest.mark.parametrize("text", [
    "FROM debian:bookworm\n", "FROM wadah/php:8.2 AS php\nFROM ubuntu\n", "FROM $IMAGE\n",
    "FROM --platform=linux/arm64 wadah/php:8.2\n", "RUN true\n", "FROM wadah/php:8.1\n",
    "FROM \\\n  debian\n",
])
def test_other_base_images_are_refused(tmp_path: Path, text: str) -> None:
    (tmp_path / "Dockerfile").write_text(text)
    with pytest.raises(BuildFailed):
        dockerfile_base(tmp_path, "Dockerfile")
