"""The scan report: a JSON-ready dictionary, a readable text summary and an HTML page."""
from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from scanners.findings import Finding, Severity, Verdict

TEMPLATES_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")

VERDICT_LABELS = {
    Verdict.CLEAN: "Bersih",
    Verdict.REVIEW: "Perlu tinjauan",
    Verdict.INFECTED: "Terinfeksi",
    Verdict.REJECTED: "Ditolak",
    Verdict.ERROR: "Galat",
}
VERDICT_EXPLANATIONS = {
    Verdict.CLEAN: "Tidak ditemukan masalah yang menghalangi. Berkas boleh diunggah ke server.",
    Verdict.REVIEW: "Ada temuan yang perlu ditinjau teknisi. Rilis boleh diterima dengan alasan "
                    "tertulis yang tercatat di log audit.",
    Verdict.INFECTED: "Ditemukan malware atau webshell. Rilis diblokir dan tidak dapat dikecualikan.",
    Verdict.REJECTED: "Arsip tidak aman untuk dibuka sehingga tidak dipindai.",
    Verdict.ERROR: "Pemindaian tidak tuntas (mesin pemindai gagal). Rilis tidak boleh diunggah "
                   "sampai pemindaian ulang berhasil.",
}
SEVERITY_LABELS = {
    Severity.CRITICAL: "kritis",
    Severity.HIGH: "tinggi",
    Severity.MEDIUM: "sedang",
    Severity.LOW: "rendah",
    Severity.INFO: "info",
}


@dataclass
class ScanReport:
    """The outcome of one scan: verdict, findings and what the scan covered."""

    verdict: Verdict
    source: str
    started_at: str
    reason: str | None = None
    reason_code: str | None = None
    findings: list[Finding] = field(default_factory=list)
    finding_verdicts: list[Verdict] = field(default_factory=list)
    files: int = 0
    bytes: int = 0
    seconds: float = 0.0
    engines: dict[str, dict[str, Any]] = field(default_factory=dict)
    allowlisted: int = 0
    # Files whose findings came from the verdict cache instead of a new scan.
    cached: int = 0

    @property
    def exit_code(self) -> int:
        return self.verdict.exit_code

    def to_dict(self) -> dict[str, Any]:
        """Return the report as the JSON object `wadah scan --json` prints."""
        findings = []
        for finding, verdict in zip(self.findings, self._verdicts(), strict=True):
            data = finding.to_dict()
            data["verdict"] = verdict.value
            findings.append(data)
        return {
            "verdict": self.verdict.value,
            "reason": self.reason,
            "reason_code": self.reason_code,
            "source": self.source,
            "started_at": self.started_at,
            "findings": findings,
            "stats": {
                "files": self.files,
                "bytes": self.bytes,
                "seconds": self.seconds,
                "findings": len(self.findings),
                "allowlisted": self.allowlisted,
                # Only a scan with the verdict cache says how many files it did not rescan.
                **({"cached": self.cached} if self.cached else {}),
            },
            "engines": self.engines,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2)

    def _verdicts(self) -> list[Verdict]:
        if len(self.finding_verdicts) == len(self.findings):
            return self.finding_verdicts
        return [Verdict.CLEAN] * len(self.findings)

    def by_file(self) -> list[tuple[str, list[tuple[Finding, Verdict]]]]:
        """Group findings by file, most severe files first."""
        groups: dict[str, list[tuple[Finding, Verdict]]] = {}
        for finding, verdict in zip(self.findings, self._verdicts(), strict=True):
            groups.setdefault(finding.path, []).append((finding, verdict))
        for items in groups.values():
            items.sort(key=lambda pair: (pair[0].line or 0, -pair[0].severity))
        return sorted(groups.items(),
                      key=lambda group: (-max(f.severity for f, _ in group[1]), group[0]))

    def to_text(self, limit: int = 50) -> str:
        """Return a readable summary for a terminal."""
        lines = [
            f"Hasil pemindaian: {VERDICT_LABELS[self.verdict].upper()} ({self.verdict.value})",
            f"Sumber: {self.source}",
        ]
        if self.reason:
            lines.append(f"Alasan: {self.reason}")
        lines.append(f"{self.files} berkas, {self.bytes} bita, {self.seconds:.2f} detik"
                     + (f" ({self.cached} berkas dari cache putusan)" if self.cached else ""))
        counts = Counter(finding.severity for finding in self.findings)
        if counts:
            lines.append("Temuan: " + ", ".join(
                f"{counts[level]} {SEVERITY_LABELS[level]}"
                for level in sorted(counts, reverse=True)))
        shown = 0
        for path, items in self.by_file():
            for finding, verdict in items:
                if shown >= limit:
                    break
                where = f"{path}:{finding.line}" if finding.line else path
                lines.append(f"  [{SEVERITY_LABELS[finding.severity]}/{verdict.value}] {where} "
                             f"{finding.engine}/{finding.rule}: {finding.message}")
                shown += 1
        if len(self.findings) > shown:
            lines.append(f"  ... dan {len(self.findings) - shown} temuan lain (lihat --json/--html)")
        engines = ", ".join(
            f"{name} {info.get('version') or '?'}" for name, info in self.engines.items()
        )
        if engines:
            lines.append(f"Mesin: {engines}")
        return "\n".join(lines)

    def to_html(self) -> str:
        """Return the report as a standalone HTML page in Bahasa Indonesia."""
        import jinja2  # only the HTML report needs it: a plain scan starts faster without

        environment = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        template = environment.get_template("report.html.j2")
        counts = Counter(finding.severity for finding in self.findings)
        return template.render(
            report=self,
            verdict_label=VERDICT_LABELS[self.verdict],
            verdict_explanation=VERDICT_EXPLANATIONS[self.verdict],
            verdict_labels=VERDICT_LABELS,
            severity_labels=SEVERITY_LABELS,
            severity_counts=[(SEVERITY_LABELS[level], level.label, counts[level])
                             for level in sorted(counts, reverse=True)],
            groups=self.by_file(),
        )
