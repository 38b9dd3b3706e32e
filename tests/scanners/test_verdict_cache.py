"""The verdict cache: remembered findings reused, changed files and changed scanners rescanned,
corrupt entries and a corrupt store ignored."""
from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

from scanners.engines import ENGINES
from scanners.engines.clamav import ClamAVEngine
from scanners.findings import Verdict
from scanners.policy import Policy
from scanners.scan import Scanner, build_engines, scan_path
from scanners.verdict_cache import DATABASE_NAME, VerdictCache
from tests.scanners.conftest import EICAR

WEBSHELL = "<?php eval($_POST['z']); ?>\n"


def write_app(root: Path, files: int = 6) -> Path:
    """Write a small clean app and one file with a finding (a webshell in a backup file)."""
    root.mkdir()
    for index in range(files):
        (root / f"page{index}.php").write_text(
            f"<?php\necho htmlspecialchars($_GET['q{index}'] ?? 'halaman {index}');\n")
    (root / "lama").mkdir()
    (root / "lama" / "shell.php").write_text(WEBSHELL)
    return root


def offline(policy: Policy | None = None) -> Scanner:
    policy = policy or Policy.load()
    return Scanner(build_engines(policy, names=[n for n in ENGINES if n != "clamav"]), policy)


def paths(report: object) -> set[tuple[str, str]]:
    return {(f.path, f.rule) for f in report.findings}  # type: ignore[attr-defined]


def test_second_scan_takes_every_file_from_the_cache(tmp_path: Path) -> None:
    app = write_app(tmp_path / "app")
    cache = VerdictCache(tmp_path / "cache")
    scanner = offline()
    cold = scanner.scan(app, cache=cache)
    assert cold.verdict == Verdict.INFECTED and cold.cached == 0
    warm = scanner.scan(app, cache=VerdictCache(tmp_path / "cache"))
    assert warm.cached == warm.files == cold.files
    assert warm.verdict == cold.verdict
    assert paths(warm) == paths(cold) and "lama/shell.php" in {p for p, _ in paths(warm)}
    assert [f.line for f in warm.findings] == [f.line for f in cold.findings]
    # The store is the owner's alone.
    assert stat.S_IMODE((tmp_path / "cache").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "cache" / DATABASE_NAME).stat().st_mode) == 0o600


def test_a_changed_file_is_always_judged_again(tmp_path: Path) -> None:
    app = write_app(tmp_path / "app")
    scanner = offline()
    assert scanner.scan(app, cache=VerdictCache(tmp_path / "cache")).verdict == Verdict.INFECTED
    (app / "page3.php").write_text(WEBSHELL.replace("z", "page"))
    (app / "lama" / "shell.php").write_text("<?php echo 'diperbaiki';\n")
    report = scanner.scan(app, cache=VerdictCache(tmp_path / "cache"))
    assert report.cached == report.files - 2
    flagged = {p for p, _ in paths(report)}
    assert "page3.php" in flagged and "lama/shell.php" not in flagged
    assert report.verdict == Verdict.INFECTED


def test_same_content_under_another_name_is_scanned(tmp_path: Path) -> None:
    app = write_app(tmp_path / "app")
    scanner = offline()
    scanner.scan(app, cache=VerdictCache(tmp_path / "cache"))
    (app / "lama" / "shell.php").rename(app / "lama" / "shell.phtml")
    report = scanner.scan(app, cache=VerdictCache(tmp_path / "cache"))
    assert report.cached == report.files - 1
    assert "lama/shell.phtml" in {p for p, _ in paths(report)}


def test_a_rule_change_invalidates_the_cache(tmp_path: Path) -> None:
    app = write_app(tmp_path / "app")
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "php.yar").write_text(
        'rule opd_marker { meta: severity = "high" strings: $a = "halaman 9" condition: $a }\n')
    policy = Policy.from_mapping({**_shipped(), "rules_dirs": [str(rules)]})
    cache_dir = tmp_path / "cache"
    assert offline(policy).scan(app, cache=VerdictCache(cache_dir)).cached == 0
    assert offline(policy).scan(app, cache=VerdictCache(cache_dir)).cached == 7
    # The operator's rule now matches a page that was clean: every file is judged again.
    (rules / "php.yar").write_text(
        'rule opd_marker { meta: severity = "high" strings: $a = "halaman 2" condition: $a }\n')
    report = offline(policy).scan(app, cache=VerdictCache(cache_dir))
    assert report.cached == 0
    assert ("page2.php", "opd_marker") in paths(report)


def test_a_policy_change_invalidates_the_cache(tmp_path: Path) -> None:
    app = write_app(tmp_path / "app")
    cache_dir = tmp_path / "cache"
    offline().scan(app, cache=VerdictCache(cache_dir))
    stricter = Policy.from_mapping({**_shipped(), "severity": {
        "critical": "infected", "high": "infected", "medium": "review", "low": "review"}})
    assert offline(stricter).scan(app, cache=VerdictCache(cache_dir)).cached == 0
    assert offline(stricter).scan(app, cache=VerdictCache(cache_dir)).cached == 7
    assert offline().scan(app, cache=VerdictCache(cache_dir)).cached == 7  # its own entries stay


def test_a_signature_change_invalidates_the_cache(tmp_path: Path, clamd_url: str) -> None:
    app = write_app(tmp_path / "app")
    (app / "lampiran.txt").write_bytes(EICAR)
    signatures = tmp_path / "signatures"
    signatures.mkdir()
    (signatures / "opd.ndb").write_text("Opd.Test.Marker:0:*:68616c616d616e2034\n")
    policy = Policy.load()

    def scanner() -> Scanner:
        engines = [ClamAVEngine(url=clamd_url, signature_dirs=[str(signatures)]),
                   *build_engines(policy, names=[n for n in ENGINES if n != "clamav"])]
        return Scanner(engines, policy)

    cache_dir = tmp_path / "cache"
    cold = scanner().scan(app, cache=VerdictCache(cache_dir))
    assert cold.verdict == Verdict.INFECTED
    assert any(f.engine == "clamav" and f.path == "lampiran.txt" for f in cold.findings)
    warm = scanner().scan(app, cache=VerdictCache(cache_dir))
    assert warm.cached == warm.files
    assert any(f.engine == "clamav" and f.path == "lampiran.txt" for f in warm.findings)
    (signatures / "opd.ndb").write_text("Opd.Test.Marker:0:*:68616c616d616e2035\n")
    assert scanner().scan(app, cache=VerdictCache(cache_dir)).cached == 0


def test_a_corrupt_entry_is_ignored_and_the_file_scanned(tmp_path: Path) -> None:
    app = write_app(tmp_path / "app")
    cache_dir = tmp_path / "cache"
    scanner = offline()
    scanner.scan(app, cache=VerdictCache(cache_dir))
    # Someone (or a bad disk) empties every remembered finding: the webshell's entry now lies.
    with sqlite3.connect(cache_dir / DATABASE_NAME) as connection:
        changed = connection.execute(
            "UPDATE verdicts SET findings = '[]' WHERE findings != '[]'").rowcount
    assert changed == 1
    cache = VerdictCache(cache_dir)
    report = scanner.scan(app, cache=cache)
    assert cache.corrupt == 1
    assert report.cached == report.files - 1
    assert report.verdict == Verdict.INFECTED
    assert "lama/shell.php" in {p for p, _ in paths(report)}


def test_a_corrupt_store_is_never_trusted(tmp_path: Path) -> None:
    app = write_app(tmp_path / "app")
    cache_dir = tmp_path / "cache"
    cache_dir.mkdir(mode=0o700)
    (cache_dir / DATABASE_NAME).write_bytes(b"bukan basis data SQLite " * 200)
    (cache_dir / DATABASE_NAME).chmod(0o600)
    report = offline().scan(app, cache=VerdictCache(cache_dir))
    assert report.cached == 0 and report.verdict == Verdict.INFECTED


def test_scan_path_takes_a_cache_directory(tmp_path: Path) -> None:
    app = write_app(tmp_path / "app")
    names = [n for n in ENGINES if n != "clamav"]
    first = scan_path(app, engines=names, cache_dir=tmp_path / "cache")
    second = scan_path(app, engines=names, cache_dir=tmp_path / "cache")
    assert first.cached == 0 and second.cached == second.files
    assert second.to_dict()["stats"]["cached"] == second.files
    assert "cached" not in first.to_dict()["stats"]


def _shipped() -> dict[str, object]:
    import yaml

    from scanners.policy import DEFAULT_POLICY_PATH

    with open(DEFAULT_POLICY_PATH, encoding="utf-8") as handle:
        data: dict[str, object] = yaml.safe_load(handle)
    return data
