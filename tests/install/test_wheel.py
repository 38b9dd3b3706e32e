"""The install kit: the wheel alone, installed into a clean virtualenv, migrates and serves the panel.

Everything runs from a directory outside the checkout with no PYTHONPATH, so nothing can come from
the source tree. Offline: the wheel is built with the shared virtualenv's setuptools (no build
isolation, no index), and the clean virtualenv sees the shared one's packages only through a path
line (its .pth files, the checkout's editable hook among them, are not run).
"""
from __future__ import annotations

import hashlib
import http.client
import json
import subprocess
import sys
import sysconfig
import time
import venv
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from agents.images import RECIPES_DIR, RUNTIME_IMAGES, recipe_digest
from tests.panel.agent import free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
START_WAIT_S = 60
# folder of the checkout → where the installed packages hold it (setup.py)
PLACES = {"panel": "panel", "agents": "agents", "scanners": "scanners", "templates": "panel/templates",
          "migrations": "panel/migrations", "images": "agents/recipes"}
WEBSHELL = "<?php if (isset($_POST['c'])) { eval(base64_decode($_POST['c'])); } ?>\n"


def _run(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{argv}: {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def _clean_env(home: Path) -> dict[str, str]:
    # Nothing of the caller's: no PYTHONPATH, no WADAH_* settings, no virtualenv.
    return {"PATH": "/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8"}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the wheel, install it into a clean virtualenv and return the virtualenv."""
    work = tmp_path_factory.mktemp("install-kit")
    env = _clean_env(work)
    # setuptools' build and egg-info folders go here, not into the checkout.
    extra = work / "build.cfg"
    extra.write_text(f"[build]\nbuild_base = {work / 'build'}\n[egg_info]\negg_base = {work}\n")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
          "--no-cache-dir", "--disable-pip-version-check", "--wheel-dir", str(work / "dist"), str(ROOT)],
         cwd=work, env={**env, "DIST_EXTRA_CONFIG": str(extra)})
    (wheel,) = (work / "dist").glob("wadah-*.whl")

    target = work / "venv"
    venv.EnvBuilder(with_pip=False).create(target)
    python = target / "bin" / "python"
    site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                     cwd=work, env=env).stdout.strip())
    shared = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (site / "shared_dependencies.pth").write_text("".join(f"{path}\n" for path in shared))
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index",
          "--no-cache-dir", "--disable-pip-version-check", str(wheel)], cwd=work, env=env)
    return target


@pytest.fixture()
def outside(tmp_path: Path) -> dict[str, str]:
    """Return a clean environment whose state directory and working directory are under `tmp_path`."""
    return {**_clean_env(tmp_path), "WADAH_STATE_DIR": str(tmp_path / "state")}


def test_the_packages_come_from_the_wheel(installed: Path, tmp_path: Path, outside: dict[str, str]) -> None:
    code = ("import json, panel, agents, scanners, panel.database as d, agents.images as i\n"
            "from panel import data_dir\n"
            "print(json.dumps({'modules': [panel.__file__, agents.__file__, scanners.__file__],\n"
            "  'templates': str(data_dir('templates')), 'migrations': str(d.MIGRATIONS),\n"
            "  'recipes': {n: i.recipe_digest(i.RECIPES_DIR / n) for n in i.RUNTIME_IMAGES},\n"
            "  'recipes_dir': str(i.RECIPES_DIR)}))\n")
    found: dict[str, Any] = json.loads(_run([str(installed / "bin/python"), "-c", code],
                                            cwd=tmp_path, env=outside).stdout)
    where = str(installed.resolve())
    for path in (*found["modules"], found["templates"], found["migrations"], found["recipes_dir"]):
        assert path.startswith(where), path
    # Every file of the runtime image recipes, executable bits included, as in the checkout.
    assert found["recipes"] == {name: recipe_digest(RECIPES_DIR / name) for name in RUNTIME_IMAGES}


def test_every_file_of_the_checkout_is_in_the_wheel(installed: Path, tmp_path: Path,
                                                     outside: dict[str, str]) -> None:
    code = ("import hashlib, json, pathlib, panel\n"
            "site = pathlib.Path(panel.__file__).parent.parent\n"
            "print(json.dumps({str(p.relative_to(site)): hashlib.sha256(p.read_bytes()).hexdigest()\n"
            "  for top in ('panel', 'agents', 'scanners') for p in (site / top).rglob('*')\n"
            "  if p.is_file() and '__pycache__' not in p.parts}))\n")
    shipped: dict[str, str] = json.loads(_run([str(installed / "bin/python"), "-c", code],
                                              cwd=tmp_path, env=outside).stdout)
    expected = {}
    for source, target in PLACES.items():
        for path in (ROOT / source).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix not in (".pyc", ".mo"):
                name = f"{target}/{path.relative_to(ROOT / source).as_posix()}"
                expected[name] = hashlib.sha256(path.read_bytes()).hexdigest()
    assert {name: shipped.get(name) for name in expected} == expected
    # Only the compiled catalogs are the build's own.
    assert set(shipped) - set(expected) == {"panel/translations/en/LC_MESSAGES/messages.mo"}


def test_db_upgrade_then_the_sign_in_page(installed: Path, tmp_path: Path, outside: dict[str, str]) -> None:
    wadah = str(installed / "bin" / "wadah")
    _run([wadah, "init-config"], cwd=tmp_path, env=outside)
    _run([wadah, "db", "upgrade"], cwd=tmp_path, env=outside)
    assert (tmp_path / "state" / "panel" / "wadah.db").is_file()
    port = free_port()
    with _serving([wadah, "web", "--bind", f"127.0.0.1:{port}", "--workers", "1"], tmp_path, outside):
        status, page = _get(port, "/login")
        assert status == 200
        assert 'name="username"' in page and 'name="password"' in page and 'name="csrf_token"' in page
        assert "Masuk" in page
        # The English catalog was compiled into the wheel.
        status, page = _get(port, "/login", {"Cookie": "__Host-wadah_lang=en"})
        assert status == 200 and "Sign in" in page
        status, css = _get(port, "/static/wadah.css")
        assert status == 200 and css == (ROOT / "templates/static/wadah.css").read_text()


def test_the_scanner_rules_and_report_come_with_it(installed: Path, tmp_path: Path,
                                                   outside: dict[str, str],
                                                   testbed: dict[str, dict[str, Any]]) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.php").write_text(WEBSHELL)
    report = tmp_path / "report.html"
    done = subprocess.run([str(installed / "bin/wadah"), "scan", str(site), "--json", "--html", str(report),
                           "--clamd", testbed["clamd"]["address"]],
                          cwd=tmp_path, env=outside, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr  # infected
    findings = json.loads(done.stdout)["findings"]
    assert "php_eval_decoded" in {f["rule"] for f in findings}, findings  # scanners/rules/php.yar
    assert "index.php" in report.read_text()


@contextmanager
def _serving(argv: list[str], cwd: Path, env: dict[str, str]) -> Iterator[None]:
    """Run `wadah web` until its sign-in page answers; stop it afterwards."""
    log = (cwd / "web.log").open("w")
    process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    port = int(argv[argv.index("--bind") + 1].rpartition(":")[2])
    try:
        deadline = time.monotonic() + START_WAIT_S
        while True:
            assert process.poll() is None, (cwd / "web.log").read_text()
            try:
                _get(port, "/login")
                break
            except OSError:
                assert time.monotonic() < deadline, (cwd / "web.log").read_text()
                time.sleep(0.2)
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()
