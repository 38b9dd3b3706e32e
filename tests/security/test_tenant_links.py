"""A hosted app's code plants links in its writable paths; the agent (root) must never follow them.

Each test performs the attack on the real testbed: the app's own user, inside its container,
replaces what the release shipped with links to host paths, then the agent restarts, redeploys or
removes the app as a technician's button would make it.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from agents.host import HostAgent
from tests.agents.support import fetch, spec, unique
from tests.security.support import as_app

pytestmark = pytest.mark.slow

LARAVEL = {
    "artisan": "#!/usr/bin/env php\n<?php\n",
    "bootstrap/app.php": "<?php return 1;\n",
    "storage/app/readme.txt": "kerangka\n",
    "storage/framework/views/.gitignore": "*\n",
    "public/index.php": "<?php echo 'hidup';\n",
}


@pytest.fixture()
def host_side(tmp_path: Path) -> Path:
    """A host directory the app must never reach: a 0700 file inside, like /etc/cron.d's neighbours."""
    directory = tmp_path / "etc"
    directory.mkdir(mode=0o700)
    (directory / "shadow").write_text("rahasia\n")
    os.chmod(directory / "shadow", 0o600)
    return directory


def test_restart_never_writes_through_a_planted_file_link(host: HostAgent, host_side: Path) -> None:
    name = unique("tautan")
    host.deploy(spec(host, name, 1, LARAVEL))
    planted = host_side / "cron-x"  # dangling: the attack wants the agent to create it
    as_app(host, name, "rm", "/srv/app/storage/app/readme.txt")
    as_app(host, name, "ln", "-s", str(planted), "/srv/app/storage/app/readme.txt")
    as_app(host, name, "rm", "-r", "/srv/app/storage/framework")
    as_app(host, name, "ln", "-s", str(host_side), "/srv/app/storage/framework")

    host.restart(name)
    host.deploy(spec(host, name, 2, LARAVEL))

    assert not planted.exists() and not planted.is_symlink()
    assert sorted(p.name for p in host_side.iterdir()) == ["shadow"]
    assert stat.S_IMODE(host_side.stat().st_mode) == 0o700
    assert stat.S_IMODE((host_side / "shadow").stat().st_mode) == 0o600
    assert (host_side / "shadow").stat().st_uid == os.getuid()
    storage = host.state.data_dir(name) / "storage"
    assert os.readlink(storage / "app" / "readme.txt") == str(planted)  # left alone, not followed
    assert fetch(host, f"{name}.contoh.go.id")[1] == "hidup"

    host.remove(name)
    assert sorted(p.name for p in host_side.iterdir()) == ["shadow"]
    assert (host_side / "shadow").read_text() == "rahasia\n"


def test_a_later_writable_path_cannot_mount_a_planted_link(host: HostAgent, host_side: Path) -> None:
    """Release 1 writes `storage`; its code links storage/app to a host directory; release 2
    declares `storage/app` writable. Docker must not be handed the link as a mount source."""
    name = unique("pasang")
    files = {"index.php": "<?php $d = '/srv/app/storage/app';\n"
                          "echo is_dir($d) ? implode(',', scandir($d)) : 'kosong';\n"}
    host.deploy(spec(host, name, 1, files, writable_paths=("storage",)))
    as_app(host, name, "ln", "-s", str(host_side), "/srv/app/storage/app")

    host.deploy(spec(host, name, 2, files, writable_paths=("storage/app",)))

    listing = fetch(host, f"{name}.contoh.go.id")[1]
    assert "shadow" not in listing and listing == ".,.."
    assert sorted(p.name for p in host_side.iterdir()) == ["shadow"]
    host.remove(name)
    assert (host_side / "shadow").read_text() == "rahasia\n"
