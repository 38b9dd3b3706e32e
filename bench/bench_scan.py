"""Scan benchmark: Wadah's full scan against clamd alone, on the same tree and the same clamd.

The tree is stock WordPress and phpMyAdmin (/usr/share/wordpress, /usr/share/phpmyadmin; generated
PHP/HTML/JS/CSS/Python/image files stand in for a missing one). clamd is a private instance the
benchmark starts on its own socket, its configuration derived from the testbed's with
`DisableCache yes`: every upload is files clamd never saw, so clamd's clean-file cache must not
answer for it. Printed, all measured in this run:
  - clamd alone: `clamdscan --multiscan --fdpass` (clamd's MULTISCAN if clamdscan is missing);
  - `wadah scan TREE --json --clamd URL` (no verdict cache), wall time of the whole command, in a
    child process so its peak memory (ru_maxrss) is its own; the ratio to clamd alone
    (target at most 1.3x) and peak memory (target 200 MiB);
  - the verdict cache: a cold scan filling an empty cache, then the same tree with one file changed
    (`wadah scan TREE --cache DIR`); its ratio to the cold full scan (target at most 0.15x).

    bench/run scan        (or .venv/bin/python bench/bench_scan.py [--runs N] [--keep])
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTBED_CLAMD = Path.home() / ".local/state/wadah/testbed/clamd"
SOURCES = [Path("/usr/share/wordpress"), Path("/usr/share/phpmyadmin")]
MIN_FILES = 4000
MIN_BYTES = 50 * 1024 * 1024
RATIO_TARGET = 1.3
CACHE_RATIO_TARGET = 0.15
MEMORY_TARGET_MIB = 200
# Settings of the testbed's clamd the private one must not share (its sockets, files, logging).
OWN_SETTINGS = ("LocalSocket", "LocalSocketMode", "TCPSocket", "TCPAddr", "PidFile",
                "TemporaryDirectory", "LogFile", "Foreground", "DisableCache", "SelfCheck")

PHP_TEMPLATE = """<?php
namespace App\\Modules\\{module};

use App\\Core\\Controller;
use App\\Core\\Request;

/**
 * {title}: data {module} untuk OPD.
 */
class {cls}Controller extends Controller
{{
    public function index(Request $request)
    {{
        $page = max(1, (int) ($_GET['page'] ?? 1));
        $q = trim((string) ($_GET['q'] ?? ''));
        $rows = $this->db->select('SELECT * FROM {table} WHERE nama LIKE ? LIMIT 20 OFFSET ?',
            ['%' . $q . '%', ($page - 1) * 20]);
        return $this->view('{table}/index', ['rows' => $rows, 'q' => htmlspecialchars($q)]);
    }}

    public function store(Request $request)
    {{
        $data = [
            'nama' => filter_input(INPUT_POST, 'nama', FILTER_SANITIZE_SPECIAL_CHARS),
            'alamat' => filter_input(INPUT_POST, 'alamat', FILTER_SANITIZE_SPECIAL_CHARS),
        ];
        $this->db->insert('{table}', $data);
        header('Location: /{table}');
    }}
{extra}
}}
"""
HTML_TEMPLATE = """<!DOCTYPE html>
<html lang="id"><head><meta charset="utf-8"><title>{title}</title>
<link rel="stylesheet" href="/assets/app.css"></head>
<body><header><nav><ul class="menu"><li><a href="/">Beranda</a></li><li><a href="/profil">Profil</a></li>
<li><a href="/layanan">Layanan</a></li><li><a href="https://ppid.example.go.id/">PPID</a></li></ul></nav></header>
<main><h1>{title}</h1>{body}</main><footer>&copy; Pemerintah Kabupaten</footer></body></html>
"""
PY_TEMPLATE = '''"""{title}."""
from flask import Blueprint, jsonify, request

bp = Blueprint("{name}", __name__)


@bp.route("/{name}")
def index():
    page = int(request.args.get("page", 1))
    items = [{{"id": i, "nama": "item %d" % i}} for i in range((page - 1) * 20, page * 20)]
    return jsonify(items=items, page=page)
'''
WORDS = ("layanan perizinan kependudukan pendidikan kesehatan anggaran pengumuman kegiatan "
         "pembangunan jalan jembatan desa kecamatan dinas bidang program laporan realisasi "
         "masyarakat pelayanan informasi publik").split()


def copy_sources(tree: Path) -> list[str]:
    used = []
    for source in SOURCES:
        if source.is_dir():
            shutil.copytree(source, tree / source.name, symlinks=False,
                            ignore_dangling_symlinks=True)
            used.append(str(source))
    return used


def generate(tree: Path, count: int, rng: random.Random) -> None:
    """Write `count` plausible application files (and some images) into tree/app."""
    app = tree / "app"
    for index in range(count):
        kind = index % 10
        module = rng.choice(WORDS).capitalize()
        title = " ".join(rng.choice(WORDS) for _ in range(4)).capitalize()
        sub = app / rng.choice(("modules", "views", "public", "scripts", "assets")) / module
        sub.mkdir(parents=True, exist_ok=True)
        paragraphs = "".join(
            "<p>" + " ".join(rng.choice(WORDS) for _ in range(60)) + "</p>" for _ in range(6))
        if kind < 4:
            extra = "\n".join(
                f"    public function aksi{i}() {{ return $this->view('{module.lower()}/a{i}'); }}"
                for i in range(rng.randint(5, 40)))
            (sub / f"{module}{index}Controller.php").write_text(PHP_TEMPLATE.format(
                module=module, title=title, cls=f"{module}{index}", table=module.lower(),
                extra=extra))
        elif kind < 6:
            (sub / f"halaman-{index}.html").write_text(
                HTML_TEMPLATE.format(title=title, body=paragraphs))
        elif kind == 6:
            body = ";\n".join(f"function f{i}(a,b){{return a*{i}+b}}" for i in range(200))
            (sub / f"app-{index}.js").write_text(body)
        elif kind == 7:
            rules = "\n".join(f".c{i} {{ margin: {i}px; color: #{i:06x}; }}" for i in range(300))
            (sub / f"style-{index}.css").write_text(rules)
        elif kind == 8:
            (sub / f"view_{index}.py").write_text(PY_TEMPLATE.format(title=title,
                                                                     name=f"v{index}"))
        else:
            png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + rng.randbytes(rng.randint(8, 120) * 1024)
            (sub / f"foto-{index}.png").write_bytes(png)


def tree_size(tree: Path) -> tuple[int, int]:
    files = size = 0
    for dirpath, _dirs, names in os.walk(tree):
        for name in names:
            files += 1
            size += os.lstat(os.path.join(dirpath, name)).st_size
    return files, size


def testbed_clamd_config() -> Path:
    """Return the testbed's clamd configuration, bringing the testbed up if it is down."""
    config = TESTBED_CLAMD / "clamd.conf"
    if not config.is_file():
        sys.path.insert(0, str(ROOT))
        from panel.testbed import Testbed

        Testbed().up()
    if not config.is_file():
        sys.exit(f"no testbed clamd configuration at {config}")
    return config


class PrivateClamd:
    """A clamd of the benchmark's own: the testbed's settings, its own socket, no clean-file cache."""

    def __init__(self, workdir: Path, source: Path) -> None:
        self.dir = workdir / "clamd"
        self.dir.mkdir()
        (self.dir / "tmp").mkdir()
        self.socket = self.dir / "clamd.sock"
        self.source = source
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def start(self) -> None:
        kept = [line for line in self.source.read_text().splitlines()
                if line.strip() and not line.lstrip().startswith("#")
                and line.split()[0] not in OWN_SETTINGS]
        config = self.dir / "clamd.conf"
        config.write_text("\n".join([
            *kept, f"LocalSocket {self.socket}", "LocalSocketMode 600",
            f"TemporaryDirectory {self.dir / 'tmp'}", f"LogFile {self.dir / 'clamd.log'}",
            "Foreground yes", "DisableCache yes", "",
        ]))
        self.process = subprocess.Popen(["clamd", "-c", str(config)], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                sys.exit(f"private clamd exited ({self.process.returncode}); see "
                         f"{self.dir / 'clamd.log'}")
            if self._ping():
                return
            time.sleep(0.2)
        sys.exit("private clamd did not answer PING within 120 s")

    def _ping(self) -> bool:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(2)
                sock.connect(str(self.socket))
                sock.sendall(b"zPING\0")
                return sock.recv(16).startswith(b"PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def clamd_alone(url: str, tree: Path, workdir: Path) -> tuple[float, str]:
    """Time clamd scanning the tree with its own signatures; return seconds and the method."""
    clamdscan = shutil.which("clamdscan")
    if clamdscan:
        config = workdir / "clamdscan.conf"
        config.write_text(f"LocalSocket {url[len('unix://'):]}\n")
        command = [clamdscan, f"--config-file={config}", "--multiscan", "--fdpass",
                   "--no-summary", "--infected", str(tree)]
        started = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, check=False)
        return time.perf_counter() - started, "clamdscan --multiscan --fdpass"
    import clamd  # only needed without clamdscan

    client = clamd.ClamdUnixSocket(path=url[len("unix://"):], timeout=600)
    started = time.perf_counter()
    client.multiscan(str(tree))
    return time.perf_counter() - started, "clamd MULTISCAN"


def wadah_scan(url: str, tree: Path, cache: Path | None = None) -> dict[str, float | int | str]:
    """Run `wadah scan` as its own process; return its wall time, peak memory and report."""
    command = [sys.executable, "-m", "panel.cli", "scan", str(tree), "--json", "--clamd", url]
    if cache is not None:
        command += ["--cache", str(cache)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               cwd=ROOT, env=env)
    assert process.stdout is not None
    output = process.stdout.read()
    _pid, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    report = json.loads(output)
    return {
        "seconds": seconds, "scan_seconds": float(report["stats"]["seconds"]),
        "verdict": report["verdict"], "files": int(report["stats"]["files"]),
        "findings": len(report["findings"]), "cached": int(report["stats"].get("cached", 0)),
        "maxrss_kib": usage.ru_maxrss, "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "reason": report.get("reason") or "",
    }


def build_tree(tree: Path) -> list[str]:
    """Copy the stock applications into `tree`, generating files only where they are missing."""
    used = copy_sources(tree)
    files, size = tree_size(tree)
    if files < MIN_FILES:
        generate(tree, MIN_FILES + 200 - files, random.Random(20240611))
    files, size = tree_size(tree)
    while size < MIN_BYTES:
        generate(tree / f"more{size}", 500, random.Random(size))
        files, size = tree_size(tree)
    return used


def change_one_file(tree: Path) -> str:
    """Edit one PHP file the way a new release does; return its path in the tree."""
    candidates = sorted(tree.rglob("*.php"))
    target = next((p for p in candidates if p.name == "index.php"), candidates[0])
    with target.open("a") as handle:
        handle.write("\n// rilis berikutnya: perbaikan kecil\n")
    return str(target.relative_to(tree))


def runs_text(values: list[float]) -> str:
    return ", ".join(f"{value:.2f}" for value in values)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the tree and the clamd log")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="wadah-bench-scan-"))
    clamd = PrivateClamd(workdir, testbed_clamd_config())
    try:
        tree = workdir / "tree"
        tree.mkdir()
        used = build_tree(tree)
        files, size = tree_size(tree)
        print(f"tree: {files} files, {size / 1024 / 1024:.1f} MiB "
              f"({' + '.join(used) or 'generated files only'})")
        clamd.start()
        print(f"clamd: private instance on {clamd.socket}, configuration from "
              f"{clamd.source} with DisableCache yes (clean-file cache off)")

        clamd_alone(clamd.url, tree, workdir)  # warm the page cache and clamd's threads
        wadah_scan(clamd.url, tree)  # and the interpreter's files
        clamd_times, wadah_runs = [], []
        method = ""
        for _ in range(args.runs):
            seconds, method = clamd_alone(clamd.url, tree, workdir)
            clamd_times.append(seconds)
            wadah_runs.append(wadah_scan(clamd.url, tree))
        wadah_times = [float(run["seconds"]) for run in wadah_runs]
        clamd_s, wadah_s = statistics.median(clamd_times), statistics.median(wadah_times)
        ratio = wadah_s / clamd_s
        memory_mib = max(int(run["maxrss_kib"]) for run in wadah_runs) / 1024
        last = wadah_runs[-1]
        print(f"clamd alone ({method}): {clamd_s:.2f} s  (runs: {runs_text(clamd_times)})")
        print(f"wadah scan (all engines, no verdict cache): {wadah_s:.2f} s  (runs: "
              f"{runs_text(wadah_times)}; scan itself {float(last['scan_seconds']):.2f} s, "
              f"verdict {last['verdict']}, {last['findings']} findings, "
              f"cpu {float(last['cpu_seconds']):.2f} s)")
        print(f"ratio wadah scan / clamd alone: {ratio:.2f}x (target <= {RATIO_TARGET}x) "
              f"{'OK' if ratio <= RATIO_TARGET else 'OVER TARGET'}")
        print(f"files per second: {files / wadah_s:.0f} (clamd alone {files / clamd_s:.0f})")
        print(f"wadah scan peak memory: {memory_mib:.0f} MiB (target <= {MEMORY_TARGET_MIB} MiB) "
              f"{'OK' if memory_mib <= MEMORY_TARGET_MIB else 'OVER TARGET'}; clamd excluded")
        if last["verdict"] == "error":
            print(f"warning: the scan ended in error: {last['reason']}")

        cold_runs, warm_runs, changed = [], [], []
        for run in range(args.runs):
            cache = workdir / f"cache-{run}"
            cold_runs.append(wadah_scan(clamd.url, tree, cache))
            changed.append(change_one_file(tree))
            warm_runs.append(wadah_scan(clamd.url, tree, cache))
        cold_s = statistics.median(float(r["seconds"]) for r in cold_runs)
        warm_s = statistics.median(float(r["seconds"]) for r in warm_runs)
        cache_ratio = warm_s / wadah_s
        warm = warm_runs[-1]
        print(f"verdict cache, cold scan filling an empty cache: {cold_s:.2f} s  (runs: "
              f"{runs_text([float(r['seconds']) for r in cold_runs])})")
        print(f"verdict cache, new version with one file changed ({changed[-1]}): {warm_s:.2f} s  "
              f"(runs: {runs_text([float(r['seconds']) for r in warm_runs])}; "
              f"{warm['cached']} of {warm['files']} files from the cache, verdict {warm['verdict']})")
        print(f"ratio one-file-changed rescan / cold full scan: {cache_ratio:.2f}x "
              f"(target <= {CACHE_RATIO_TARGET}x) "
              f"{'OK' if cache_ratio <= CACHE_RATIO_TARGET else 'OVER TARGET'}; "
              f"against the cold scan filling the cache: {warm_s / cold_s:.2f}x")
        cache_memory = max(int(r["maxrss_kib"]) for r in cold_runs + warm_runs) / 1024
        print(f"verdict cache scans peak memory: {cache_memory:.0f} MiB")
    finally:
        clamd.stop()
        if args.keep:
            print(f"tree and clamd log kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
