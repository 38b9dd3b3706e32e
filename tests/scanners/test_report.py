"""Reports: JSON dictionary, text summary and the Indonesian HTML page."""
from __future__ import annotations

from scanners.findings import Finding, Severity, Verdict
from scanners.report import ScanReport


def sample_report() -> ScanReport:
    findings = [
        Finding("php", "php_eval_request", Severity.CRITICAL, "wp-content/x.php",
                "eval menjalankan input", 12, "@eval($_POST['x']);"),
        Finding("secrets", "secret_env_file", Severity.HIGH, ".env", "Berkas .env", 3,
                "DB_PASSWORD=rahasia"),
        Finding("php", "php_decode_chain", Severity.HIGH, "wp-content/x.php", "rantai", 4, None),
    ]
    return ScanReport(verdict=Verdict.INFECTED, source="/tmp/up.zip", started_at="2024-01-01",
                      findings=findings,
                      finding_verdicts=[Verdict.INFECTED, Verdict.REVIEW, Verdict.REVIEW],
                      files=10, bytes=2048, seconds=0.5,
                      engines={"clamav": {"version": "ClamAV 1.4.6", "signatures": 8}})


def test_dict_has_the_documented_keys() -> None:
    data = sample_report().to_dict()
    assert data["verdict"] == "infected"
    assert data["stats"] == {"files": 10, "bytes": 2048, "seconds": 0.5, "findings": 3,
                             "allowlisted": 0}
    assert data["findings"][0]["severity"] == "critical"
    assert data["findings"][0]["verdict"] == "infected"


def test_html_groups_by_file_most_severe_first() -> None:
    page = sample_report().to_html()
    assert page.index("wp-content/x.php") < page.index(".env")
    assert "Terinfeksi" in page and "kritis" in page and "baris 12" in page
    assert "@eval($_POST[&#39;x&#39;]);" in page
    assert "ClamAV 1.4.6" in page and "8 signature" in page


def test_text_summary_lists_findings() -> None:
    text = sample_report().to_text()
    assert text.splitlines()[0] == "Hasil pemindaian: TERINFEKSI (infected)"
    assert "wp-content/x.php:12 php/php_eval_request" in text


def test_rejected_report_explains_why() -> None:
    report = ScanReport(verdict=Verdict.REJECTED, source="x.zip", started_at="t",
                        reason="path traversal", reason_code="path_traversal")
    assert report.exit_code == 3
    assert "path traversal" in report.to_html()
    assert report.to_dict()["reason_code"] == "path_traversal"
