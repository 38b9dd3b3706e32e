"""The agent's state directory keeps its secrets owner-only: new files, and loose ones it finds."""
from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from agents import private_files
from agents.api import NonceLedger
from agents.state import AppRecord, DatabaseAccount, StateStore


def mode(path: Path) -> int:
    return os.lstat(path).st_mode & 0o777


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    # The usual 022: whatever is private here is so because the code made it so.
    before = os.umask(0o022)
    yield
    os.umask(before)


def test_a_fresh_state_directory_is_owner_only(tmp_path: Path) -> None:
    root = tmp_path / "agent"
    state = StateStore(root)
    state.save(AppRecord(name="portal", fqdn="portal.contoh.go.id", env={"API_SECRET": "rahasia-env"},
                         database=DatabaseAccount(database="w_portal", user="w_portal",
                                                  password="sandi-basis-data")))
    assert state.agent_id
    NonceLedger(root / "nonces.sqlite3").close()

    assert {mode(p) for p in [root, *(p for p in root.iterdir() if p.is_dir())]} == {0o700}
    record = root / "apps" / "portal.json"
    assert "sandi-basis-data" in record.read_text()
    assert (mode(record), mode(root / "agent.json"), mode(root / "nonces.sqlite3")) == (0o600,) * 3
    assert [p.name for p in root.iterdir() if p.name.startswith(".")] == []  # no temporary left


def test_loose_secrets_left_by_an_older_agent_are_tightened_on_start(tmp_path: Path) -> None:
    root = tmp_path / "agent"
    for sub in ("apps", "tls", "certs/portal", "dumps", "data/portal/uploads"):
        (root / sub).mkdir(parents=True)
    loose = [root / "agent.json", root / "apps" / "portal.json", root / "tls" / "agent.key",
             root / "certs" / "portal" / "privkey.pem", root / "dumps" / "portal-1.sql.gz"]
    for path in loose:
        path.write_text(json.dumps({"id": "abc123"}))
        path.chmod(0o644)
    nonces = root / "nonces.sqlite3"
    sqlite3.connect(nonces).close()  # made by an agent that did not tighten it
    nonces.chmod(0o644)
    loose.append(nonces)
    for directory in (root, root / "apps", root / "tls", root / "certs" / "portal"):
        directory.chmod(0o755)
    # Neither a link nor a tenant's own files are followed or touched.
    outside = tmp_path / "milik-orang-lain.txt"
    outside.write_text("x")
    outside.chmod(0o644)
    (root / "apps" / "tautan.json").symlink_to(outside)
    tenant_file = root / "data" / "portal" / "uploads" / "foto.jpg"
    tenant_file.write_text("x")
    tenant_file.chmod(0o644)

    StateStore(root)
    NonceLedger(root / "nonces.sqlite3").close()

    assert {path.name: mode(path) for path in loose} == {path.name: 0o600 for path in loose}
    assert {mode(d) for d in (root, root / "apps", root / "tls", root / "certs" / "portal")} == {0o700}
    assert mode(outside) == 0o644 and mode(tenant_file) == 0o644


def test_write_replaces_atomically_with_exactly_the_mode_asked(tmp_path: Path) -> None:
    secret, public = tmp_path / "rahasia.json", tmp_path / "situs.conf"
    secret.write_text("lama")
    secret.chmod(0o644)
    private_files.write(secret, "baru")
    private_files.write(public, b"server {}", mode=0o644)  # an nginx site: readable, on purpose
    assert (secret.read_text(), mode(secret)) == ("baru", 0o600)
    assert (public.read_bytes(), mode(public)) == (b"server {}", 0o644)
    with pytest.raises(FileExistsError):
        private_files.write(secret, "lain", exclusive=True)
    assert secret.read_text() == "baru" and sorted(p.name for p in tmp_path.iterdir()) == [
        "rahasia.json", "situs.conf"]
