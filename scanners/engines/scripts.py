"""Backdoors in other scripting languages: reverse shells, bind shells, crypto miners."""
from __future__ import annotations

from scanners.engines.base import PHP, SCRIPT, TEXT, FileEngine, ScannedFile, yara_findings
from scanners.engines.registry import register
from scanners.findings import Finding


@register
class ScriptBackdoorEngine(FileEngine):
    """Finds reverse shells and miners in Python, Perl, shell and other scripts."""

    name = "scripts"
    rule_files = ("scripts.yar",)
    content_kinds = frozenset({SCRIPT, TEXT, PHP})

    def check(self, item: ScannedFile) -> list[Finding]:
        return yara_findings(item, self.name)
