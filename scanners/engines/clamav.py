"""ClamAV through clamd. If clamd cannot be reached or fails, the scan ends in `error`.

When clamd runs on this machine it scans the tree's directories itself (MULTISCAN, no bytes copied).
Files it cannot read that way (another user, too deep) are passed by descriptor (FILDES) over the
unix socket, or streamed (INSTREAM) to a clamd elsewhere.
"""
from __future__ import annotations

import array
import hashlib
import ipaddress
import logging
import os
import socket
import struct
import threading
import urllib.parse
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from scanners.engines.base import Engine
from scanners.engines.registry import register
from scanners.findings import EngineError, Finding, Severity
from scanners.intake import FileEntry, Tree

logger = logging.getLogger(__name__)

PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIGNATURES_DIR = os.path.join(PACKAGE_DIR, "signatures")
DEFAULT_URL = "unix:///var/run/clamav/clamd.ctl"
DEFAULT_SIGNATURE_DIRS = (SIGNATURES_DIR, "/var/lib/clamav")
# clamd's own defaults: deeper directories and bigger files are skipped silently by MULTISCAN.
CLAMD_MAX_DIRECTORY_RECURSION = 15
CLAMD_MAX_FILE_BYTES = 25 * 1024 * 1024

_SIGNATURE_LINE_FILES = (".hdb", ".hsb", ".mdb", ".msb", ".ndb", ".ndu", ".ldb", ".ldu", ".cdb",
                         ".idb", ".crb", ".pdb", ".gdb", ".wdb", ".imp", ".hdu", ".hsu", ".mdu",
                         ".msu")
_CHUNK = 256 * 1024


class ClamdAddress:
    """A clamd address: `unix:///path/to/clamd.sock` or `tcp://host:port`."""

    def __init__(self, url: str) -> None:
        parsed = urllib.parse.urlsplit(url)
        self.url = url
        if parsed.scheme == "unix":
            self.kind = "unix"
            self.path = urllib.parse.unquote(parsed.netloc + parsed.path)
            self.host, self.port = "", 0
            if not self.path:
                raise ValueError(f"clamd address without a socket path: {url!r}")
        elif parsed.scheme == "tcp":
            self.kind = "tcp"
            if not parsed.hostname or not parsed.port:
                raise ValueError(f"clamd address needs host and port: {url!r}")
            self.host, self.port, self.path = parsed.hostname, parsed.port, ""
        else:
            raise ValueError(f"clamd address must be unix:// or tcp://, not {url!r}")

    @property
    def local(self) -> bool:
        """Whether clamd shares this machine's file system (unix socket or loopback TCP)."""
        if self.kind == "unix":
            return True
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    def client(self, timeout: float) -> ClamdClient:
        return ClamdClient(self, timeout)

    def connect(self, timeout: float) -> socket.socket:
        if self.kind == "unix":
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            target: Any = self.path
        else:
            sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET,
                                 socket.SOCK_STREAM)
            target = (self.host, self.port)
        sock.settimeout(timeout)
        try:
            sock.connect(target)
        except OSError:
            sock.close()
            raise
        return sock


class ClamdError(Exception):
    """clamd answered something other than what its protocol promises."""


class ClamdClient:
    """The few clamd commands the engine needs (PING, VERSION, MULTISCAN), one connection each.

    Written here rather than taken from the `clamd` package, whose import pulls in pkg_resources
    and costs every `wadah scan` more than half a second.
    """

    def __init__(self, address: ClamdAddress, timeout: float) -> None:
        self.address = address
        self.timeout = timeout

    def _command(self, command: str) -> str:
        with self.address.connect(self.timeout) as sock:
            sock.sendall(b"z" + command.encode() + b"\0")
            chunks = []
            while data := sock.recv(65536):
                chunks.append(data)
        return b"".join(chunks).decode("utf-8", "replace").rstrip("\0")

    def ping(self) -> str:
        return self._command("PING").strip()

    def version(self) -> str:
        return self._command("VERSION").strip()

    def multiscan(self, path: str) -> dict[str, tuple[str, str | None]]:
        """Scan `path` inside clamd; return file -> (OK|FOUND|ERROR, signature or reason)."""
        if "\0" in path or "\n" in path:
            raise ClamdError(f"clamd cannot be given the path {path!r}")
        results: dict[str, tuple[str, str | None]] = {}
        for line in self._command(f"MULTISCAN {path}").replace("\0", "\n").splitlines():
            if not line.strip():
                continue
            # The file name is everything up to the last ": " (as clamd's own clients read it).
            name, separator, result = line.rpartition(": ")
            if not separator:
                raise ClamdError(f"jawaban clamd tidak dikenal: {line[:200]!r}")
            for status in ("FOUND", "ERROR", "OK"):
                if result == status or result.endswith(" " + status):
                    detail = result[: -len(status)].strip() or None
                    results[name] = (status, detail)
                    break
            else:
                raise ClamdError(f"jawaban clamd tidak dikenal: {line[:200]!r}")
        return results


@register
class ClamAVEngine(Engine):
    """Scans every file with ClamAV; any failure is an engine error, never a clean result."""

    name = "clamav"

    def __init__(self, url: str | None = None, timeout_seconds: float = 600.0,
                 mode: str = "auto", workers: int = 4,
                 signature_dirs: Iterable[str] = DEFAULT_SIGNATURE_DIRS,
                 max_file_bytes: int = CLAMD_MAX_FILE_BYTES,
                 max_directory_recursion: int = CLAMD_MAX_DIRECTORY_RECURSION) -> None:
        if mode not in ("auto", "multiscan", "fildes", "instream"):
            raise ValueError(f"unknown clamav mode {mode!r}")
        self.address = ClamdAddress(url or DEFAULT_URL)
        self.timeout_seconds = timeout_seconds
        self.mode = mode
        self.workers = workers
        self.signature_dirs = tuple(signature_dirs)
        self.max_file_bytes = max_file_bytes
        self.max_directory_recursion = max_directory_recursion
        self._version: str | None = None
        self._used: set[str] = set()
        self._lock = threading.Lock()

    def available(self) -> bool:
        try:
            return self.address.client(timeout=5).ping() == "PONG"
        except (ClamdError, OSError, ValueError):
            return False

    def describe(self) -> dict[str, Any]:
        if self._version is None:
            try:
                self._version = str(self.address.client(timeout=5).version())
            except (ClamdError, OSError):
                self._version = None
        version, _, database = (self._version or "").partition("/")
        info: dict[str, Any] = {
            "version": version or None,
            "signatures": count_signatures(self.signature_dirs),
            "address": self.address.url,
        }
        if database:
            info["database"] = database
        if self._used:
            info["mode"] = "+".join(sorted(self._used))
        return info

    def cache_identity(self) -> dict[str, Any]:
        """Return clamd's live `VERSION` (engine/database/date) and a digest of the signature files."""
        try:
            version = str(self.address.client(timeout=5).version())
        except (ClamdError, OSError) as exc:
            raise EngineError(f"clamd tidak dapat dihubungi di {self.address.url}: {exc}") from exc
        return {"class": type(self).__qualname__, "version": version,
                "signatures": signatures_digest(self.signature_dirs),
                "max_file_bytes": self.max_file_bytes}

    # -- scanning ------------------------------------------------------------------------------

    def scan(self, tree: Tree) -> list[Finding]:
        client = self.address.client(timeout=self.timeout_seconds)
        try:
            if client.ping() != "PONG":
                raise EngineError(f"clamd di {self.address.url} tidak menjawab PING")
            self._version = str(client.version())
        except (ClamdError, OSError) as exc:
            raise EngineError(f"clamd tidak dapat dihubungi di {self.address.url}: {exc}") from exc

        findings: list[Finding] = []
        for entry in tree.files:
            if entry.size > self.max_file_bytes:
                findings.append(Finding(
                    self.name, "clamav_not_scanned", Severity.LOW, entry.path,
                    f"Berkas melebihi batas ukuran ClamAV ({self.max_file_bytes} bita)"))
        pending = [entry for entry in tree.files if entry.size <= self.max_file_bytes]
        # A partial tree (the rest judged from the verdict cache) goes file by file: MULTISCAN
        # would read every file under the roots again.
        if self.mode in ("auto", "multiscan") and self.address.local and tree.complete:
            pending = self._multiscan(client, tree, pending, findings)
        if pending:
            findings.extend(self._scan_each(pending))
        return findings

    def _multiscan(self, client: ClamdClient, tree: Tree,
                   entries: list[FileEntry], findings: list[Finding]) -> list[FileEntry]:
        """Scan the tree's directories inside clamd; return the entries it could not cover."""
        by_fs_path = {entry.fs_path: entry for entry in entries}
        leftover: dict[str, FileEntry] = {}
        for root in tree.roots:
            under = [e for e in entries if e.fs_path == root or e.fs_path.startswith(root + os.sep)]
            if not under:
                continue
            for entry in under:
                depth = entry.fs_path[len(root):].count(os.sep)
                if depth > self.max_directory_recursion:
                    leftover[entry.fs_path] = entry
            try:
                results = client.multiscan(root)
            except (ClamdError, OSError) as exc:
                raise EngineError(f"clamd gagal memindai {root}: {exc}") from exc
            self._note("multiscan")
            if not results:
                # No answer at all is no verdict: have every file checked one by one.
                leftover.update((e.fs_path, e) for e in under)
                continue
            for path, (status, reason) in results.items():
                if status == "FOUND":
                    found = by_fs_path.get(path)
                    findings.append(self._detection(found.path if found else _relative(tree, path),
                                                    reason or "ClamAV"))
                elif status == "ERROR":
                    failed = by_fs_path.get(path)
                    inside = [e for e in under if e.fs_path.startswith(path.rstrip(os.sep) + os.sep)]
                    if failed is not None:
                        leftover[path] = failed
                    elif inside:
                        leftover.update((e.fs_path, e) for e in inside)
                    else:
                        # The root itself (clamd runs as another user) or a path we cannot
                        # place: nothing under this root counts as scanned.
                        logger.info("clamd could not scan %s (%s); passing files instead",
                                    path, reason)
                        leftover.update((e.fs_path, e) for e in under)
        return list(leftover.values())

    def _scan_each(self, entries: list[FileEntry]) -> list[Finding]:
        use_fildes = self.address.kind == "unix" and self.mode in ("auto", "fildes", "multiscan")
        scan_one = self._fildes if use_fildes else self._instream
        self._note("fildes" if use_fildes else "instream")
        findings: list[Finding] = []
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="clamd") as pool:
            for entry, reply in zip(entries, pool.map(scan_one, entries), strict=True):
                status, detail = _parse_reply(reply)
                if status == "FOUND":
                    findings.append(self._detection(entry.path, detail))
                elif status == "ERROR":
                    if "size limit" in detail.lower():
                        findings.append(Finding(
                            self.name, "clamav_not_scanned", Severity.LOW, entry.path,
                            "Berkas melebihi batas ukuran stream clamd"))
                        continue
                    raise EngineError(f"clamd gagal memindai {entry.path}: {detail}")
        return findings

    def _fildes(self, entry: FileEntry) -> str:
        fd = os.open(entry.fs_path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            with self._connect() as sock:
                sock.sendall(b"zFILDES\0")
                sock.sendmsg([b"\0"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                        array.array("i", [fd]))])
                return _read_reply(sock)
        except OSError as exc:
            raise EngineError(f"clamd tidak dapat dihubungi di {self.address.url}: {exc}") from exc
        finally:
            os.close(fd)

    def _instream(self, entry: FileEntry) -> str:
        try:
            with self._connect() as sock, open(entry.fs_path, "rb") as handle:
                sock.sendall(b"zINSTREAM\0")
                while chunk := handle.read(_CHUNK):
                    sock.sendall(struct.pack("!L", len(chunk)) + chunk)
                sock.sendall(struct.pack("!L", 0))
                return _read_reply(sock)
        except OSError as exc:
            raise EngineError(f"clamd tidak dapat dihubungi di {self.address.url}: {exc}") from exc

    def _connect(self) -> socket.socket:
        return self.address.connect(self.timeout_seconds)

    def _detection(self, path: str, signature: str) -> Finding:
        return Finding(self.name, signature, Severity.CRITICAL, path,
                       f"ClamAV mendeteksi {signature}")

    def _note(self, mode: str) -> None:
        with self._lock:
            self._used.add(mode)


def _read_reply(sock: socket.socket) -> str:
    chunks = []
    while True:
        data = sock.recv(4096)
        if not data:
            break
        chunks.append(data)
        if data.endswith(b"\0"):
            break
    return b"".join(chunks).rstrip(b"\0\n").decode("utf-8", "replace")


def _parse_reply(reply: str) -> tuple[str, str]:
    """Split "fd[10]: Eicar-Signature FOUND" into ("FOUND", "Eicar-Signature")."""
    _, _, result = reply.partition(": ")
    result = result or reply
    for status in ("FOUND", "ERROR", "OK"):
        if result.endswith(status):
            return status, result[: -len(status)].strip()
    return "ERROR", reply or "jawaban clamd kosong"


def _relative(tree: Tree, path: str) -> str:
    for root in tree.roots:
        if path.startswith(root + os.sep):
            return path[len(root) + 1:]
    return os.path.basename(path)


def signatures_digest(directories: Iterable[str]) -> str:
    """Return a digest of the signature files in ClamAV database directories."""
    digest = hashlib.sha256()
    for directory in directories:
        try:
            names = sorted(os.listdir(directory))
        except OSError:
            continue
        for name in names:
            path = os.path.join(directory, name)
            try:
                info = os.stat(path)
                digest.update(f"{path}\0{info.st_size}\0{info.st_mtime_ns}\0".encode())
                if name.endswith(_SIGNATURE_LINE_FILES + (".yar", ".yara")):
                    with open(path, "rb") as handle:
                        digest.update(hashlib.sha256(handle.read()).digest())
            except OSError:
                continue
    return digest.hexdigest()


def count_signatures(directories: Iterable[str]) -> int:
    """Count the signatures in ClamAV database directories (.cvd/.cld headers, signature lines)."""
    total = 0
    for directory in directories:
        try:
            names = sorted(os.listdir(directory))
        except OSError:
            continue
        for name in names:
            path = os.path.join(directory, name)
            try:
                if name.endswith((".cvd", ".cld")):
                    with open(path, "rb") as handle:
                        fields = handle.read(512).split(b":")
                    if len(fields) > 3 and fields[0] == b"ClamAV-VDB" and fields[3].isdigit():
                        total += int(fields[3])
                elif name.endswith(_SIGNATURE_LINE_FILES):
                    with open(path, "rb") as handle:
                        total += sum(1 for line in handle if line.strip()
                                     and not line.startswith(b"#"))
                elif name.endswith((".yar", ".yara")):
                    with open(path, "rb") as handle:
                        total += sum(1 for line in handle if line.lstrip().startswith(b"rule "))
            except OSError:
                continue
    return total
