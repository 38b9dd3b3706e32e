"""Recognising Laravel, CodeIgniter 3/4 and WordPress, and the paths an app may name (no services)."""
from __future__ import annotations

from pathlib import Path

import pytest

from agents import frameworks
from agents.errors import ArtifactRejected, BuildFailed, InvalidRequest
from agents.releases import check_dockerfile, dockerfile_base, layout


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


@pytest.mark.parametrize("text, base", [
    ("FROM wadah/php:8.2 AS a\nFROM wadah/static AS b\nFROM a\n", "wadah/php:8.2"),
    ("FROM wadah/php:8.2 AS build\nFROM wadah/static\nCOPY --from=build /a /b\n", "wadah/static"),
    ("FROM wadah/php:8.2\nFROM wadah/static\nCOPY --from=0 /a /b\n", "wadah/static"),
    ("ARG VERSION=1\nFROM wadah/php:8.2\nCOPY --chown=10000:10000 . /srv/app/\n", "wadah/php:8.2"),
    ("FROM wadah/php:8.2\nRUN cat <<< 'here-string' > /tmp/x\n", "wadah/php:8.2"),
    ("FROM wadah/php:8.2\nRUN echo a \\\n# a comment inside\n  && echo b\n", "wadah/php:8.2"),
    ("FROM wadah/php:8.2\nADD site.tar.gz /srv/app/\n", "wadah/php:8.2"),
])
def test_dockerfiles_that_stay_inside_their_bundle_are_allowed(tmp_path: Path, text: str,
                                                               base: str) -> None:
    (tmp_path / "Dockerfile").write_text(text)
    assert check_dockerfile(tmp_path, "Dockerfile").base_image == base


@pytest.mark.parametrize("text, said", [
    ("FROM wadah/php:8.2\nADD http://127.0.0.1:1/x /srv/app/x\n", "ADD dari URL"),
    ("FROM wadah/php:8.2\nADD [\"https://contoh.go.id/a.php\", \"/srv/app/\"]\n", "ADD dari URL"),
    ("FROM wadah/php:8.2\nADD git@github.com:opd/app.git /srv/app\n", "ADD dari URL"),
    ("FROM wadah/php:8.2\nADD --checksum=sha256:00 https://x/y /z\n", "--checksum"),
    ("FROM wadah/php:8.2\nARG U=http://127.0.0.1:1/x\nADD $U /srv/app/x\n", "variabel"),
    ("FROM wadah/php:8.2\nRUN --network=host true\n", "RUN --network"),
    ("FROM wadah/php:8.2\nRUN --network=default true\n", "RUN --network"),
    ("FROM wadah/php:8.2\nRUN --security=insecure true\n", "RUN --security"),
    ("FROM wadah/php:8.2\nRUN --mount=type=ssh git clone x\n", "RUN --mount"),
    ("FROM wadah/php:8.2\nRUN --mount=type=secret,id=k cat /run/secrets/k\n", "RUN --mount"),
    ("FROM wadah/php:8.2\nRUN --mount=type=bind,from=wadah/static,target=/x true\n", "RUN --mount"),
    ("FROM wadah/php:8.2\nCOPY --from=wadah-app/lain:1-abc /srv/app /srv/app\n", "--from"),
    ("FROM wadah/php:8.2\nCOPY --from=1 /a /b\n", "--from"),
    ("FROM wadah/php:8.2\nCOPY --chmod=755 a /b\n", "--chmod"),
    ("FROM wadah/php:8.2\nCOPY --link a /b\n", "--link"),
    ("# syntax=docker/dockerfile:1.7\nFROM wadah/php:8.2\n", "arahan parser"),
    ("# escape=`\nFROM wadah/php:8.2\n", "arahan parser"),
    ("FROM wadah/php:8.2\nRUN <<EOF\necho hi > /srv/app/a.php\nEOF\n", "heredoc"),
    ("FROM wadah/php:8.2\nCOPY <<EOF /srv/app/s.php\n<?php eval($_GET[1]);\nEOF\n", "heredoc"),
    ("FROM wadah/php:8.2\nONBUILD ADD http://x/y /z\n", "ONBUILD"),
])
def test_dockerfiles_that_reach_out_or_need_buildkit_are_refused(tmp_path: Path, text: str,
                                                                 said: str) -> None:
    (tmp_path / "Dockerfile").write_text(text)
    with pytest.raises(BuildFailed) as refused:
        check_dockerfile(tmp_path, "Dockerfile")
    assert said in str(refused.value)
