"""Wadah's file scanner: safe intake of uploads, scanning engines, policy and reports.

Usable without the panel: `scan_path(path)` returns a `ScanReport` whose `verdict` decides whether a
release may reach a server. This package imports nothing from `panel` or `agents`.
"""
from __future__ import annotations

from scanners.findings import EngineError, Finding, Severity, Verdict
from scanners.intake import FileEntry, Limits, RejectedUpload, Tree, open_upload
from scanners.policy import Policy, PolicyError
from scanners.report import ScanReport
from scanners.scan import Scanner, build_engines, scan_path

__all__ = [
    "EngineError",
    "FileEntry",
    "Finding",
    "Limits",
    "Policy",
    "PolicyError",
    "RejectedUpload",
    "ScanReport",
    "Scanner",
    "Severity",
    "Tree",
    "Verdict",
    "build_engines",
    "open_upload",
    "scan_path",
]
