"""Scan benchmark: Wadah's full scan (all engines) against clamd alone on the same tree.

Builds a realistic tree under a temporary directory (WordPress from /usr/share/wordpress,
phpMyAdmin if installed, plus generated PHP/HTML/JS/CSS/Python/image files) of at least 50 MB and
5,000 files, then prints:
  - clamd alone: `clamdscan --multiscan --fdpass` (clamd's MULTISCAN if clamdscan is missing);
  - Wadah's full scan, run in a child process so its peak memory (ru_maxrss) is its own;
  - the ratio of the two (target at most 1.5x), files per second, peak memory (target 200 MiB).

clamd is found through WADAH_CLAMD_URL or the testbed's socket
(~/.local/state/wadah/testbed/clamd/clamd.sock).

    .venv/bin/python bench/bench_scan.py [--runs N] [--keep]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTBED_SOCKET = Path.home() / ".local/state/wadah/testbed/clamd/clamd.sock"
SOURCES = [Path("/usr/share/wordpress"), Path("/usr/share/phpmyadmin")]
MIN_FILES = 5000
MIN_BYTES = 50 * 1024 * 1024
RATIO_TARGET = 1.5
MEMORY_TARGET_MIB = 200

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


def clamd_url() -> str:
    url = os.environ.get("WADAH_CLAMD_URL")
    if url:
        return url
    if TESTBED_SOCKET.exists():
        return f"unix://{TESTBED_SOCKET}"
    sys.exit("no clamd: set WADAH_CLAMD_URL or start the testbed (wadah testbed up)")


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


def clamd_alone(url: str, tree: Path, workdir: Path) -> tuple[float, str]:
    """Time clamd scanning the tree with its own signatures; return seconds and the method."""
    clamdscan = shutil.which("clamdscan")
    if clamdscan:
        config = workdir / "clamdscan.conf"
        if url.startswith("unix://"):
            config.write_text(f"LocalSocket {url[len('unix://'):]}\n")
        else:
            host, _, port = url[len("tcp://"):].rpartition(":")
            config.write_text(f"TCPSocket {port}\nTCPAddr {host}\n")
        command = [clamdscan, f"--config-file={config}", "--multiscan", "--fdpass",
                   "--no-summary", "--infected", str(tree)]
        started = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, check=False)
        return time.perf_counter() - started, "clamdscan --multiscan --fdpass"
    import clamd  # only needed without clamdscan

    if url.startswith("unix://"):
        client = clamd.ClamdUnixSocket(path=url[len("unix://"):], timeout=600)
    else:
        host, _, port = url[len("tcp://"):].rpartition(":")
        client = clamd.ClamdNetworkSocket(host=host, port=int(port), timeout=600)
    started = time.perf_counter()
    client.multiscan(str(tree))
    return time.perf_counter() - started, "clamd MULTISCAN"


def wadah_child(url: str, tree: Path) -> dict[str, float | int | str]:
    """Run Wadah's full scan in a child process and return its figures."""
    completed = subprocess.run(
        [sys.executable, __file__, "--child", str(tree), "--clamd", url],
        capture_output=True, text=True, check=True, cwd=ROOT)
    result: dict[str, float | int | str] = json.loads(completed.stdout.splitlines()[-1])
    return result


def child(tree: str, url: str) -> None:
    sys.path.insert(0, str(ROOT))
    from scanners import scan_path

    started = time.perf_counter()
    report = scan_path(tree, clamd_url=url)
    seconds = time.perf_counter() - started
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(json.dumps({
        "seconds": seconds, "verdict": report.verdict.value, "files": report.files,
        "findings": len(report.findings), "maxrss_kib": own.ru_maxrss,
        "children_maxrss_kib": children.ru_maxrss, "cpu_seconds": own.ru_utime + own.ru_stime,
        "reason": report.reason or "",
    }))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the generated tree")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--clamd", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.clamd)
        return 0

    url = clamd_url()
    workdir = Path(tempfile.mkdtemp(prefix="wadah-bench-scan-"))
    try:
        tree = workdir / "tree"
        tree.mkdir()
        used = copy_sources(tree)
        files, size = tree_size(tree)
        generate(tree, max(1000, MIN_FILES + 200 - files), random.Random(20240611))
        files, size = tree_size(tree)
        while size < MIN_BYTES:
            generate(tree / f"more{size}", 500, random.Random(size))
            files, size = tree_size(tree)
        print(f"tree: {files} files, {size / 1024 / 1024:.1f} MiB "
              f"({', '.join(used) or 'generated only'} + generated files)")
        print(f"clamd: {url}")

        clamd_alone(url, tree, workdir)  # warm the page cache and clamd
        clamd_times, wadah_runs = [], []
        method = ""
        for _ in range(args.runs):
            seconds, method = clamd_alone(url, tree, workdir)
            clamd_times.append(seconds)
            wadah_runs.append(wadah_child(url, tree))
        wadah_times = [float(run["seconds"]) for run in wadah_runs]
        clamd_s, wadah_s = statistics.median(clamd_times), statistics.median(wadah_times)
        ratio = wadah_s / clamd_s
        memory_mib = max(int(run["maxrss_kib"]) for run in wadah_runs) / 1024
        child_mib = max(int(run["children_maxrss_kib"]) for run in wadah_runs) / 1024
        last = wadah_runs[-1]
        print(f"clamd alone ({method}): {clamd_s:.2f} s  (runs: "
              + ", ".join(f"{t:.2f}" for t in clamd_times) + ")")
        print(f"wadah full scan (all engines): {wadah_s:.2f} s  (runs: "
              + ", ".join(f"{t:.2f}" for t in wadah_times) + f"; verdict {last['verdict']}, "
              f"{last['findings']} findings, cpu {float(last['cpu_seconds']):.2f} s)")
        print(f"ratio wadah/clamd: {ratio:.2f}x (target <= {RATIO_TARGET}x) "
              f"{'OK' if ratio <= RATIO_TARGET else 'OVER TARGET'}")
        print(f"files per second: {files / wadah_s:.0f} (clamd alone {files / clamd_s:.0f})")
        print(f"scanner peak memory: {memory_mib:.0f} MiB (target <= {MEMORY_TARGET_MIB} MiB) "
              f"{'OK' if memory_mib <= MEMORY_TARGET_MIB else 'OVER TARGET'}; "
              f"largest helper process (bandit): {child_mib:.0f} MiB; clamd excluded")
        if last["verdict"] == "error":
            print(f"warning: the scan ended in error: {last['reason']}")
    finally:
        if args.keep:
            print(f"tree kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
