"""Content-addressed storage of app bundles: a bundle's sha256 is its name, outside any web root.

Both the panel (uploads) and each agent (what it was sent) keep one; a stored file is never changed.
"""
from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import BinaryIO

CHUNK = 1024 * 1024
SHA256 = re.compile(r"^[0-9a-f]{64}$")


class ArtifactTooLarge(ValueError):
    pass


class ArtifactMismatch(ValueError):
    """The bytes received do not have the sha256 they were announced with."""


class ArtifactStore:
    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def path(self, sha256: str) -> Path:
        """Return where the artifact `sha256` lives (whether or not it is stored)."""
        if not SHA256.match(sha256):
            raise ValueError(f"not a sha256: {sha256!r}")
        return self.root / sha256[:2] / sha256

    def has(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def put(self, stream: BinaryIO, max_bytes: int, expected_sha256: str | None = None) -> tuple[str, int]:
        """Store the bytes of `stream`, refusing more than `max_bytes`; return (sha256, size).

        The bytes go to a temporary file first, so an interrupted or refused upload leaves nothing.
        """
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        digest, size = hashlib.sha256(), 0
        fd, tmp_name = tempfile.mkstemp(dir=self.root, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as tmp:
                while chunk := stream.read(CHUNK):
                    size += len(chunk)
                    if size > max_bytes:
                        raise ArtifactTooLarge(f"berkas melebihi batas {max_bytes} bita")
                    digest.update(chunk)
                    tmp.write(chunk)
                tmp.flush()
                os.fsync(tmp.fileno())
            sha256 = digest.hexdigest()
            if expected_sha256 is not None and sha256 != expected_sha256:
                raise ArtifactMismatch(f"sha256 {sha256} tidak sama dengan {expected_sha256}")
            final = self.path(sha256)
            final.parent.mkdir(exist_ok=True, mode=0o700)
            os.chmod(tmp_name, 0o400)
            os.replace(tmp_name, final)  # same content, same name: a repeat upload is harmless
            return sha256, size
        finally:
            if os.path.exists(tmp_name):
                os.unlink(tmp_name)

    def remove(self, sha256: str) -> None:
        self.path(sha256).unlink(missing_ok=True)
