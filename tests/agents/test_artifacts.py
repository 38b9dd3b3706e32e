from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from agents.protocol.artifacts import ArtifactMismatch, ArtifactStore, ArtifactTooLarge


def test_stores_by_sha256_and_reads_back(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    data = b"<h1>Halo</h1>" * 1000
    sha256, size = store.put(io.BytesIO(data), max_bytes=10**6)
    assert sha256 == hashlib.sha256(data).hexdigest() and size == len(data)
    assert store.path(sha256).read_bytes() == data
    assert store.put(io.BytesIO(data), max_bytes=10**6) == (sha256, size)  # idempotent


def test_oversized_upload_leaves_nothing(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    with pytest.raises(ArtifactTooLarge):
        store.put(io.BytesIO(b"x" * 2048), max_bytes=1024)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_announced_checksum_must_match(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    with pytest.raises(ArtifactMismatch):
        store.put(io.BytesIO(b"abc"), max_bytes=100, expected_sha256="0" * 64)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_interrupted_stream_leaves_nothing(tmp_path: Path) -> None:
    class Broken(io.RawIOBase):
        def __init__(self) -> None:
            self.calls = 0

        def read(self, size: int = -1) -> bytes:
            self.calls += 1
            if self.calls > 2:
                raise ConnectionResetError("client went away")
            return b"y" * 100

    with pytest.raises(ConnectionResetError):
        ArtifactStore(tmp_path).put(Broken(), max_bytes=10**6)  # type: ignore[arg-type]
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


@pytest.mark.parametrize("name", ["../etc/passwd", "ABC", "a" * 63])
def test_only_sha256_names(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError):
        ArtifactStore(tmp_path).path(name)
