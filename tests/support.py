"""What the tests do when something real they need is missing."""
from __future__ import annotations

import http.client
import io
import os
import tarfile
from typing import NoReturn

import pytest


def unavailable(message: str) -> NoReturn:
    """Skip on a developer's machine; fail in CI (CI=true), where nothing real may be missing."""
    if os.environ.get("CI") == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def tar_gz(files: dict[str, str]) -> bytes:
    """Return a tar.gz holding `files` (path → text), as an OPD would upload a site."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def fetch(address: str, host: str, path: str = "/") -> tuple[int, str]:
    """GET `path` from nginx at `address` (host:port) with the Host header `host`."""
    hostname, _, port = address.rpartition(":")
    connection = http.client.HTTPConnection(hostname, int(port), timeout=15)
    try:
        connection.request("GET", path, headers={"Host": host})
        response = connection.getresponse()
        return response.status, response.read().decode(errors="replace")
    finally:
        connection.close()
