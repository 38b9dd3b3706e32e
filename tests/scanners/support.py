"""How the scanner tests build a scanner, scan a few files and read the verdict for each."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

from scanners.engines import ENGINES
from scanners.findings import Finding, Verdict
from scanners.policy import Policy
from scanners.scan import Scanner, build_engines


def make_scanner(clamd_url: str | None = None) -> Scanner:
    policy = Policy.load()
    names = [name for name in ENGINES if name != "clamav" or clamd_url]
    return Scanner(build_engines(policy, clamd_url, names), policy)


def scan_files(scanner: Scanner, tmp_path: Path, files: dict[str, bytes | str]) -> list[Finding]:
    root = tmp_path / "upload"
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    report = scanner.scan(root)
    assert report.verdict not in (Verdict.ERROR, Verdict.REJECTED), report.reason
    return report.findings


def verdict_of(policy: Policy, findings: list[Finding], path: str) -> Verdict:
    return policy.decide(f for f in findings if f.path == path)


def verdicts_by_file(policy: Policy, findings: Iterable[Finding]) -> dict[str, Verdict]:
    """Return, for each file with findings, the verdict its findings alone would lead to."""
    grouped: dict[str, list[Finding]] = defaultdict(list)
    for finding in findings:
        grouped[finding.path].append(finding)
    return {path: policy.decide(items) for path, items in grouped.items()}
