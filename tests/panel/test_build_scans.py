"""The scan of what a Dockerfile app's build made: its verdict blocks with a reason naming files and
rules, a review blocks too, and it never stands in for the bundle's own scan.

The whole path, with a real agent and a real build, is in tests/security/test_build_scan.py.
"""
from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from panel import gateway, storage
from panel.extensions import db
from panel.models import AuditEvent, Release, ScanKind, Stack, Verdict
from panel.services.releases import deployment, scanning
from tests.panel import factories


def finding(path: str, rule: str, verdict: str) -> dict[str, Any]:
    return {"path": path, "engine": "php", "rule": rule, "verdict": verdict, "message": "…"}


def test_what_a_build_made_blocks_naming_files_and_rules(app: Flask) -> None:
    infected = factories.scan_report("infected", kind=ScanKind.BUILD, report={"findings": [
        finding("srv/app/s.php", "php_eval_request", "infected"),
        finding("srv/app/s.php", "php_tainted_exec", "infected"),
        finding("srv/app/index.php", "php_short_tag", "clean")]})
    reason = scanning.build_blocked_reason(infected)
    assert "srv/app/s.php (php/php_eval_request, php/php_tainted_exec)" in reason
    assert "index.php" not in reason and "tidak boleh membuat kode" in reason


def test_a_review_of_what_a_build_made_is_blocked_too(app: Flask) -> None:
    review = factories.scan_report("review", kind=ScanKind.BUILD, report={"findings": [
        finding("srv/app/cache/config.php", "php_obfuscation", "review")]})
    reason = scanning.build_blocked_reason(review)
    assert "srv/app/cache/config.php (php/php_obfuscation)" in reason
    assert "perlu ditinjau" in reason and "masukkan kode ke dalam bundel" in reason


def test_a_refused_or_unfinished_build_scan_says_why(app: Flask) -> None:
    rejected = factories.scan_report("rejected", kind=ScanKind.BUILD,
                                     report={"reason": "tautan simbolik srv/app/p.txt", "findings": []})
    assert "tautan simbolik srv/app/p.txt" in scanning.build_blocked_reason(rejected)
    failed = factories.scan_report("error", kind=ScanKind.BUILD,
                                   report={"reason": "clamd tidak menjawab", "findings": []})
    assert "clamd tidak menjawab" in scanning.build_blocked_reason(failed)


def test_a_build_scan_never_stands_in_for_the_bundles_scan(app: Flask) -> None:
    bundle = factories.scan_report("review")
    factories.scan_report("clean", sha256=bundle.artifact_sha256, kind=ScanKind.BUILD)
    assert scanning.latest_report(bundle.artifact_sha256).id == bundle.id


def _tar(path: Path, files: dict[str, bytes], links: dict[str, str] | None = None) -> Path:
    with tarfile.open(path, "w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return path


def test_the_files_a_build_made_are_scanned_with_the_bundles_engines(
        app: Flask, testbed: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    release = factories.release(factories.app(stack=Stack.DOCKERFILE), status="pending")
    output = _tar(tmp_path / "output.tar", {"srv/app/s.php": b'<?php eval($_GET["c"]);\n'})
    build = {"image_id": "sha256:" + "ab" * 32, "output": {"files": 1, "unchanged": 3}}

    report = scanning.scan_build_output(release, output, build, storage.attachments(),
                                        testbed["clamd"]["address"])

    assert (report.kind, report.verdict) == (ScanKind.BUILD, Verdict.INFECTED)
    assert release.build_scan_report_id == report.id and report.report["build"] == build
    assert {f["path"] for f in report.report["findings"]} == {"srv/app/s.php"}
    assert b"s.php" in storage.attachments().path(report.html_sha256).read_bytes()
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action == "scan.build")) == 1


def test_a_link_a_build_made_is_refused(app: Flask, tmp_path: Path) -> None:
    release = factories.release(factories.app(stack=Stack.DOCKERFILE), status="pending")
    output = _tar(tmp_path / "output.tar", {}, {"srv/app/p.txt": "/etc/passwd"})
    report = scanning.scan_build_output(release, output, {"image_id": None}, storage.attachments(), None)
    assert report.verdict == Verdict.REJECTED
    assert "Dockerfile tidak boleh membuat tautan" in scanning.build_blocked_reason(report)


def test_a_dockerfile_app_is_not_deployed_without_scanning_its_build(app: Flask, tmp_path: Path) -> None:
    target = factories.app(stack=Stack.DOCKERFILE, host=factories.host())
    bundle = factories.scan_report("clean")
    with pytest.raises(deployment.DeployFailed):
        deployment.deploy(target, bundle, None, gateway.agents(app), factories.zone())
    assert db.session.scalar(select(func.count()).select_from(Release)) == 0
