"""App Dockerfiles: build steps that add code the scan never saw, or loosen the container.

An app may bring its own Dockerfile, built on the host FROM a runtime image. The engine reads only
files named like Dockerfiles (`dockerfile_parser`) and judges each instruction by what it does
(`dockerfile_rules`).
"""
from __future__ import annotations

from typing import Any

from scanners.engines.base import FileEngine, ScannedFile
from scanners.engines.dockerfile_parser import is_dockerfile, parse_dockerfile
from scanners.engines.dockerfile_rules import judge_build
from scanners.engines.registry import register
from scanners.findings import Finding, Severity
from scanners.intake import FileEntry

# A Dockerfile is a page or two; a bigger one is read this far and sent for review.
MAX_DOCKERFILE_BYTES = 256 * 1024


@register
class DockerfileEngine(FileEngine):
    """Finds build steps in app Dockerfiles that add unscanned code or loosen the container."""

    name = "dockerfile"
    checks_every_kind = True

    def wants(self, entry: FileEntry) -> bool:
        return is_dockerfile(entry.name)

    def describe(self) -> dict[str, Any]:
        return {"version": "1"}

    def check(self, item: ScannedFile) -> list[Finding]:
        data = item.data[:MAX_DOCKERFILE_BYTES]
        dockerfile = parse_dockerfile(data.decode("utf-8", "replace"))
        findings = judge_build(self.name, item, dockerfile)
        if len(item.data) > MAX_DOCKERFILE_BYTES or item.truncated:
            findings.append(item.finding(self.name, "dockerfile_unreadable", Severity.MEDIUM,
                                         f"Dockerfile lebih dari {MAX_DOCKERFILE_BYTES} bita; "
                                         "hanya awalnya yang diperiksa"))
        return _dedupe(findings)


def _dedupe(findings: list[Finding]) -> list[Finding]:
    seen: set[tuple[str, int | None, str]] = set()
    unique = []
    for finding in sorted(findings, key=lambda f: (-f.severity, f.line or 0)):
        key = (finding.rule, finding.line, finding.message)
        if key not in seen:
            seen.add(key)
            unique.append(finding)
    return sorted(unique, key=lambda f: (f.line or 0, -f.severity))
