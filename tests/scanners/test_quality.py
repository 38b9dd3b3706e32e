"""Detection quality on the labelled corpus: malicious samples blocked, benign code left alone.

The malicious corpus is `tests/corpus/malicious/<family>/` (text samples written for these rules)
plus binary and token-shaped samples generated here, so none is committed. Benign code comes from
`tests/corpus/benign/` and from packages on the machine (WordPress, phpMyAdmin, Laravel, Symfony,
Python web frameworks) when installed.

Run as a script to print the figures by family:
    .venv/bin/python tests/scanners/test_quality.py [--clamd URL]
"""
from __future__ import annotations

import base64
import io
import os
import secrets
import shutil
import struct
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import pytest

from scanners.findings import Verdict
from scanners.scan import Scanner
from tests.scanners.support import make_scanner, verdicts_by_file
from tests.support import unavailable

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
MALICIOUS = CORPUS / "malicious"
BENIGN = CORPUS / "benign"

# Benign code found on a Debian machine; a missing one is skipped.
BENIGN_TREES = {
    "wordpress": ["/usr/share/wordpress"],
    "phpmyadmin": ["/usr/share/phpmyadmin"],
    "laravel": ["/usr/share/php/Illuminate"],
    "symfony": ["/usr/share/php/Symfony"],
    "python-web": [
        *(str(Path(sys.prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}"
                  / "site-packages" / name)
          for name in ("flask", "werkzeug", "jinja2", "click", "itsdangerous")),
        "/usr/lib/python3/dist-packages/django",
    ],
}
DETECTION_TARGET = 0.95
FALSE_POSITIVE_LIMIT = 0.01


def generate_samples(root: Path) -> None:
    """Write the samples that are binary or shaped like live credentials (never committed)."""
    dangerous = root / "dangerous-files"
    dangerous.mkdir(parents=True, exist_ok=True)
    elf = b"\x7fELF\x02\x01\x01" + b"\x00" * 9 + struct.pack("<HHI", 2, 62, 1) + b"\x00" * 40
    (dangerous / "update-helper").write_bytes(elf)
    (dangerous / "kworkerd.jpg").write_bytes(elf)
    pe = bytearray(b"MZ" + b"\x00" * 0x3A + struct.pack("<I", 0x40) + b"PE\x00\x00" + b"\x00" * 64)
    (dangerous / "setup.exe").write_bytes(bytes(pe))
    (dangerous / "driver.dll.txt").write_bytes(bytes(pe))
    macho = b"\xcf\xfa\xed\xfe" + b"\x00" * 60
    (dangerous / "agent.bin").write_bytes(macho)
    gif = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00"
    (dangerous / "banner.gif").write_bytes(gif + b"<?php eval($_POST['z']); ?>\x00;")
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + os.urandom(64)
    (dangerous / "icon.png").write_bytes(png + b"<?php system($_REQUEST['c']); ?>")

    keys = root / "secrets"
    keys.mkdir(parents=True, exist_ok=True)
    body = base64.encodebytes(secrets.token_bytes(600)).decode()
    (keys / "id_rsa").write_text(
        "-----BEGIN RSA PRIVATE KEY-----\n" + body + "-----END RSA PRIVATE KEY-----\n")
    (keys / "server.key").write_text(
        "-----BEGIN PRIVATE KEY-----\n" + body + "-----END PRIVATE KEY-----\n")
    (keys / "deploy_key").write_text(
        "-----BEGIN OPENSSH PRIVATE KEY-----\n" + body + "-----END OPENSSH PRIVATE KEY-----\n")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

    def token(length: int) -> str:
        return "".join(secrets.choice(alphabet) for _ in range(length))

    (keys / "ci.yml").write_text(f"env:\n  GITHUB_TOKEN: ghp_{token(36)}\n")
    (keys / "notify.js").write_text(
        f"const hook = 'xoxb-{secrets.randbelow(10**11):011d}-{token(24)}';\n")
    (keys / "payment.php").write_text(f"<?php\n$stripe = 'sk_live_{token(24)}';\n")
    (keys / "service-account.json").write_text(
        '{\n  "type": "service_account",\n  "project_id": "opd-maps",\n'
        f'  "private_key_id": "{token(40)}",\n'
        '  "private_key": "-----BEGIN PRIVATE KEY-----\\nMIIE...\\n-----END PRIVATE KEY-----\\n"\n}\n')
    (keys / "oss.php").write_text(f"<?php\n$accessKeyId = 'LTAI{token(20)}';\n")
    git = keys / "repo" / ".git"
    git.mkdir(parents=True, exist_ok=True)
    (git / "config").write_text(
        '[remote "origin"]\n\turl = https://ci:Sup3rS3cret@git.example.go.id/opd/app.git\n')


def generate_eicar_samples(root: Path) -> None:
    """Write the EICAR test file plainly, renamed and inside archives (for runs with clamd)."""
    eicar = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
    family = root / "clamav-eicar"
    family.mkdir(parents=True, exist_ok=True)
    (family / "eicar.com").write_bytes(eicar)
    (family / "laporan.pdf").write_bytes(eicar)
    with zipfile.ZipFile(family / "lampiran.zip", "w") as zf:
        zf.writestr("dokumen/eicar.txt", eicar)
    with tarfile.open(family / "arsip.tgz", "w:gz") as tf:
        info = tarfile.TarInfo("x/eicar.bin")
        info.size = len(eicar)
        tf.addfile(info, io.BytesIO(eicar))


def malicious_figures(scanner: Scanner, workdir: Path,
                      with_clamav: bool = False) -> dict[str, tuple[int, int, list[str], int]]:
    """Return family -> (blocked, total, missed paths, infected) for the malicious corpus."""
    corpus = workdir / "malicious"
    shutil.copytree(MALICIOUS, corpus)
    generate_samples(corpus)
    if with_clamav:
        generate_eicar_samples(corpus)
    figures = {}
    for family in sorted(p.name for p in corpus.iterdir() if p.is_dir()):
        report = scanner.scan(corpus / family)
        assert report.verdict not in (Verdict.REJECTED, Verdict.ERROR), report.reason
        # A finding inside an archive counts for the archive file itself.
        verdicts: dict[str, Verdict] = {}
        for path, verdict in verdicts_by_file(scanner.policy, report.findings).items():
            outer = path.split("!/", 1)[0]
            if verdicts.get(outer, Verdict.CLEAN) != Verdict.INFECTED:
                verdicts[outer] = verdict
        files = sorted(
            str(path.relative_to(corpus / family))
            for path in (corpus / family).rglob("*") if path.is_file()
        )
        missed = [f for f in files if verdicts.get(f, Verdict.CLEAN) == Verdict.CLEAN]
        infected = sum(1 for f in files if verdicts.get(f) == Verdict.INFECTED)
        figures[family] = (len(files) - len(missed), len(files), missed, infected)
    return figures


def benign_figures(scanner: Scanner, workdir: Path,
                   trees: dict[str, list[str]]) -> dict[str, tuple[int, int, list[str]]]:
    """Return name -> (flagged, total, flagged files) for benign trees (symlinks followed)."""
    figures = {}
    for name, sources in trees.items():
        present = [source for source in sources if os.path.isdir(source)]
        if not present:
            continue
        target = workdir / "benign" / name
        for source in present:
            shutil.copytree(source, target / Path(source).name, symlinks=False,
                            ignore_dangling_symlinks=True, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        report = scanner.scan(target)
        assert report.verdict not in (Verdict.REJECTED, Verdict.ERROR), report.reason
        flagged = sorted(
            f"{path} ({', '.join(sorted({x.rule for x in report.findings if x.path == path}))})"
            for path, verdict in verdicts_by_file(scanner.policy, report.findings).items()
            if verdict != Verdict.CLEAN
        )
        figures[name] = (len(flagged), report.files, flagged)
    return figures


@pytest.fixture(scope="module")
def quality_scanner() -> Scanner:
    return make_scanner()


def test_malicious_corpus_is_blocked(quality_scanner: Scanner, tmp_path: Path) -> None:
    figures = malicious_figures(quality_scanner, tmp_path)
    blocked = sum(figure[0] for figure in figures.values())
    total = sum(figure[1] for figure in figures.values())
    assert total >= 100
    missed = {family: figure[2] for family, figure in figures.items() if figure[2]}
    assert blocked / total >= DETECTION_TARGET, missed


def test_handcrafted_benign_files_stay_clean(quality_scanner: Scanner, tmp_path: Path) -> None:
    figures = benign_figures(quality_scanner, tmp_path, {"handcrafted": [str(BENIGN)]})
    flagged, _total, files = figures["handcrafted"]
    assert flagged == 0, files


@pytest.mark.slow
@pytest.mark.parametrize("name", ["wordpress", "phpmyadmin"])
def test_stock_applications_scan_nearly_clean(quality_scanner: Scanner, tmp_path: Path,
                                              name: str) -> None:
    figures = benign_figures(quality_scanner, tmp_path, {name: BENIGN_TREES[name]})
    if name not in figures:
        unavailable(f"{name} is not installed (apt-get install {name}; scripts/bootstrap does)")
    flagged, total, files = figures[name]
    assert flagged / total <= FALSE_POSITIVE_LIMIT, files


def main(argv: list[str]) -> int:
    clamd_url = argv[argv.index("--clamd") + 1] if "--clamd" in argv else None
    scanner = make_scanner(clamd_url)
    with tempfile.TemporaryDirectory(prefix="wadah-quality-") as work:
        malicious = malicious_figures(scanner, Path(work), with_clamav=clamd_url is not None)
        print("Malicious samples blocked (infected or review), by family:")
        for family, (blocked, total, missed, infected) in malicious.items():
            print(f"  {family:22s} {blocked:4d}/{total:<4d} {100 * blocked / total:6.1f}%"
                  f"  (infected {infected}, review {blocked - infected})"
                  + (f"  missed: {', '.join(missed)}" if missed else ""))
        blocked = sum(figure[0] for figure in malicious.values())
        total = sum(figure[1] for figure in malicious.values())
        infected = sum(figure[3] for figure in malicious.values())
        print(f"  {'all':22s} {blocked:4d}/{total:<4d} {100 * blocked / total:6.1f}%"
              f"  (infected {infected}, review {blocked - infected})")
        trees = {"handcrafted": [str(BENIGN)], **BENIGN_TREES}
        print("Benign files flagged (review or infected):")
        for name, (flagged, files, which) in benign_figures(scanner, Path(work), trees).items():
            print(f"  {name:22s} {flagged:4d}/{files:<5d} {100 * flagged / max(files, 1):6.2f}%")
            for item in which[:15]:
                print(f"      {item}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
