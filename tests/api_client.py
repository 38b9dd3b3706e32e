"""The panel driven from outside, as separate processes: its JSON API over HTTP and its `wadah` CLI."""
from __future__ import annotations

import io
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

JOB_WAIT_S = 180


class Api:
    """The panel's JSON API over HTTP, as an OPD's script or a technician's tool calls it."""

    def __init__(self, base: str, token: str) -> None:
        self.base, self.token = base, token

    def call(self, method: str, path: str, body: dict[str, Any] | None = None,
             multipart: tuple[bytes, str] | None = None) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"}
        data = None
        if multipart is not None:
            data, headers["Content-Type"] = multipart
        elif body is not None:
            data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"{method} {path}: {exc.code} {exc.read().decode()}") from None

    def finished(self, job: dict[str, Any]) -> dict[str, Any]:
        """Wait for the worker to end `job` and return it."""
        deadline = time.monotonic() + JOB_WAIT_S
        while time.monotonic() < deadline:
            state = self.call("GET", f"/jobs/{job['id']}")
            if state["status"] not in ("queued", "running"):
                return state
            time.sleep(0.5)
        raise AssertionError(f"job {job['id']} still {state['status']} after {JOB_WAIT_S} s")


def multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    out = io.BytesIO()
    for name, value in fields.items():
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                  f"{value}\r\n".encode())
    for name, (filename, content) in files.items():
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                  f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode())
        out.write(content + b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


def wadah(state: Path, *arguments: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "panel.cli", "--state-dir", str(state), *arguments],
                          env=env, capture_output=True, text=True, timeout=600, check=False)
