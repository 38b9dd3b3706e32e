"""The policy file: severities and rules to verdicts, the allowlist, limits, validation."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from scanners.findings import Finding, Severity, Verdict
from scanners.intake import Limits
from scanners.policy import DEFAULT_POLICY_PATH, Policy, PolicyError
from scanners.scan import Scanner, build_engines


def finding(engine: str, rule: str, severity: Severity) -> Finding:
    return Finding(engine, rule, severity, "x.php", "m")


def test_shipped_policy_maps_severities() -> None:
    policy = Policy.load()
    assert policy.source == DEFAULT_POLICY_PATH
    assert policy.verdict_for(finding("php", "r", Severity.CRITICAL)) == Verdict.INFECTED
    assert policy.verdict_for(finding("php", "r", Severity.HIGH)) == Verdict.REVIEW
    assert policy.verdict_for(finding("php", "r", Severity.MEDIUM)) == Verdict.REVIEW
    assert policy.verdict_for(finding("php", "r", Severity.LOW)) == Verdict.CLEAN
    assert policy.verdict_for(finding("bandit", "B101", Severity.HIGH)) == Verdict.CLEAN


def test_infected_beats_error_beats_review() -> None:
    policy = Policy.load()
    review = finding("secrets", "secret_env_file", Severity.HIGH)
    infected = finding("php", "php_eval_request", Severity.CRITICAL)
    assert policy.decide([review]) == Verdict.REVIEW
    assert policy.decide([review], ["clamav: down"]) == Verdict.ERROR
    assert policy.decide([review, infected], ["clamav: down"]) == Verdict.INFECTED
    assert policy.decide([]) == Verdict.CLEAN


def test_clamav_detections_are_always_infected() -> None:
    policy = Policy.from_mapping({"rules": [{"engine": "clamav", "verdict": "clean"}],
                                  "severity": {"critical": "review"}})
    assert policy.verdict_for(finding("clamav", "Eicar", Severity.CRITICAL)) == Verdict.INFECTED
    assert policy.verdict_for(finding("php", "x", Severity.CRITICAL)) == Verdict.REVIEW


def test_rule_overrides_match_patterns_and_severity() -> None:
    policy = Policy.from_mapping({
        "severity": {"high": "review", "medium": "review"},
        "rules": [{"engine": "judol", "rule": "judol_*", "severity": "medium", "verdict": "clean"}],
    })
    assert policy.verdict_for(finding("judol", "judol_bot_check", Severity.MEDIUM)) == Verdict.CLEAN
    assert policy.verdict_for(finding("judol", "judol_content", Severity.HIGH)) == Verdict.REVIEW


@pytest.mark.parametrize("data", [
    {"severity": {"critical": "maybe"}},
    {"severity": {"fatal": "infected"}},
    {"rules": [{"engine": "php"}]},
    {"rules": [{"verdict": "rejected"}]},
    {"allowlist": {"sha256": ["not-a-hash"]}},
    {"limits": {"max_files": 1, "max_nonsense": 2}},
    {"surprise": 1},
])
def test_malformed_policies_are_refused(data: dict) -> None:
    with pytest.raises(PolicyError):
        Policy.from_mapping(data)


def test_limits_come_from_the_policy(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("limits:\n  max_files: 7\n  max_depth: 1\n")
    limits = Policy.load(path).limits
    assert (limits.max_files, limits.max_depth, limits.max_ratio) == (7, 1, Limits().max_ratio)


def test_allowlist_silences_known_good_files_but_not_other_files(tmp_path: Path) -> None:
    root = tmp_path / "site"
    root.mkdir()
    vendor = b"<?php $f = 'sys' . 'tem'; $f($_GET['c']);"
    (root / "known.php").write_bytes(vendor)
    (root / "other.php").write_bytes(vendor + b"\n")
    policy = Policy.from_mapping({
        "severity": {"critical": "infected", "high": "review"},
        "allowlist": {"sha256": [hashlib.sha256(vendor).hexdigest()]},
    })
    report = Scanner(build_engines(policy, names=["php"]), policy).scan(root)
    assert {f.path for f in report.findings} == {"other.php"}
    assert report.allowlisted >= 1


def test_extra_rules_directories_extend_engines(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "php.yar").write_text(
        'rule local_marker { meta: severity = "high" message = "penanda lokal" '
        'strings: $a = "PEMDA_TEST_MARKER" condition: $a }\n')
    site = tmp_path / "site"
    site.mkdir()
    (site / "a.php").write_text("<?php // PEMDA_TEST_MARKER\n")
    policy = Policy.from_mapping({"rules_dirs": [str(rules)], "severity": {"high": "review"}})
    report = Scanner(build_engines(policy, names=["php"]), policy).scan(site)
    assert [(f.rule, f.message) for f in report.findings] == [("local_marker", "penanda lokal")]
    assert report.verdict == Verdict.REVIEW
