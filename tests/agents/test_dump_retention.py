"""A removed app's final database dump is kept for `DUMP_RETENTION_DAYS`, then deleted."""
from __future__ import annotations

import os
import time
from pathlib import Path

from agents import defaults
from agents.state import StateStore

DAY = 86400


def test_dumps_past_their_retention_go_and_newer_ones_and_links_stay(tmp_path: Path) -> None:
    state = StateStore(tmp_path / "state")
    now = time.time()
    old = state.dumps_dir / "lama-20260101T000000.sql.gz"
    new = state.dumps_dir / "baru-20261201T000000.sql.gz"
    for path, age_days in ((old, defaults.DUMP_RETENTION_DAYS + 1), (new, defaults.DUMP_RETENTION_DAYS - 1)):
        path.write_bytes(b"dump")
        os.utime(path, (now - age_days * DAY, now - age_days * DAY))
    # A link placed there is never followed nor removed: only regular files are dumps.
    target = tmp_path / "bukan-dump"
    target.write_text("tetap")
    link = state.dumps_dir / "tautan.sql.gz"
    link.symlink_to(target)
    os.utime(link, (now - 90 * DAY, now - 90 * DAY), follow_symlinks=False)

    assert state.prune_dumps(now) == [old.name]
    assert not old.exists() and new.is_file() and link.is_symlink() and target.read_text() == "tetap"
