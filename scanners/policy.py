"""The scan policy: a data file that turns findings into a verdict, plus limits and allowlist."""
from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from scanners.findings import Finding, Severity, Verdict
from scanners.intake import Limits

DEFAULT_POLICY_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "policy.yaml")

# Engines whose detections are known malware: always infected, whatever the policy file says.
SIGNATURE_ENGINES = frozenset({"clamav"})
_SAFE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
FINDING_VERDICTS = (Verdict.CLEAN, Verdict.REVIEW, Verdict.INFECTED)


class PolicyError(ValueError):
    """The policy file is malformed."""


@dataclass(frozen=True)
class RuleOverride:
    """A policy exception: findings of `engine`/`rule` (optionally one severity) get `verdict`."""

    engine: str
    rule: str
    verdict: Verdict
    severity: Severity | None = None

    def applies_to(self, finding: Finding) -> bool:
        return (
            fnmatch.fnmatchcase(finding.engine, self.engine)
            and fnmatch.fnmatchcase(finding.rule, self.rule)
            and (self.severity is None or self.severity == finding.severity)
        )


@dataclass
class Policy:
    """How findings become a verdict, and the limits and settings a scan runs with."""

    severity_verdicts: dict[Severity, Verdict] = field(default_factory=dict)
    overrides: list[RuleOverride] = field(default_factory=list)
    allowlist: frozenset[str] = frozenset()
    limits: Limits = field(default_factory=Limits)
    engine_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    rules_dirs: tuple[str, ...] = ()
    source: str | None = None

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None) -> Policy:
        """Read a policy file (YAML); without a path, the policy shipped with Wadah."""
        location = os.fspath(path) if path is not None else DEFAULT_POLICY_PATH
        try:
            with open(location, encoding="utf-8") as handle:
                # libyaml's loader when built in: the pure-Python one costs a tenth of a second.
                data = yaml.load(handle, Loader=_SAFE_LOADER)  # noqa: S506 (a safe loader)
        except OSError as exc:
            raise PolicyError(f"cannot read policy {location}: {exc}") from exc
        except yaml.YAMLError as exc:
            raise PolicyError(f"policy {location} is not valid YAML: {exc}") from exc
        policy = cls.from_mapping(data or {})
        policy.source = location
        return policy

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Policy:
        """Build a policy from parsed data, checking every value."""
        if not isinstance(data, Mapping):
            raise PolicyError("policy must be a mapping")
        unknown = set(data) - {"version", "severity", "rules", "allowlist", "limits", "engines",
                               "rules_dirs"}
        if unknown:
            raise PolicyError(f"unknown policy keys: {', '.join(sorted(unknown))}")
        severity_verdicts = {level: Verdict.CLEAN for level in Severity}
        for name, verdict in (data.get("severity") or {}).items():
            severity_verdicts[_severity(name)] = _verdict(verdict)
        overrides = []
        for index, item in enumerate(data.get("rules") or []):
            if not isinstance(item, Mapping) or "verdict" not in item:
                raise PolicyError(f"policy rule #{index + 1} needs at least a verdict")
            overrides.append(RuleOverride(
                engine=str(item.get("engine", "*")),
                rule=str(item.get("rule", "*")),
                verdict=_verdict(item["verdict"]),
                severity=_severity(item["severity"]) if item.get("severity") else None,
            ))
        allowlist_data = data.get("allowlist") or {}
        if not isinstance(allowlist_data, Mapping):
            raise PolicyError("allowlist must be a mapping with a sha256 list")
        hashes = allowlist_data.get("sha256") or []
        allowlist = frozenset(_sha256(value) for value in hashes)
        try:
            limits = Limits.from_mapping(data.get("limits") or {})
        except (TypeError, ValueError) as exc:
            raise PolicyError(str(exc)) from exc
        engines = data.get("engines") or {}
        if not isinstance(engines, Mapping) or not all(
            isinstance(options, Mapping) for options in engines.values()
        ):
            raise PolicyError("engines must map engine names to settings")
        return cls(
            severity_verdicts=severity_verdicts,
            overrides=overrides,
            allowlist=allowlist,
            limits=limits,
            engine_options={name: dict(options) for name, options in engines.items()},
            rules_dirs=tuple(str(path) for path in data.get("rules_dirs") or ()),
        )

    def verdict_for(self, finding: Finding) -> Verdict:
        """Return the verdict one finding leads to."""
        if finding.engine in SIGNATURE_ENGINES and finding.severity == Severity.CRITICAL:
            return Verdict.INFECTED
        for override in self.overrides:
            if override.applies_to(finding):
                return override.verdict
        return self.severity_verdicts.get(finding.severity, Verdict.CLEAN)

    def decide(self, findings: Iterable[Finding], errors: Iterable[str] = ()) -> Verdict:
        """Return the verdict of a scan: infected beats error, error beats review and clean."""
        verdicts = {self.verdict_for(finding) for finding in findings}
        if Verdict.INFECTED in verdicts:
            return Verdict.INFECTED
        if any(True for _ in errors):
            return Verdict.ERROR
        if Verdict.REVIEW in verdicts:
            return Verdict.REVIEW
        return Verdict.CLEAN

    def fingerprint(self) -> str:
        """Return a digest of everything in the policy (a changed policy changes it)."""
        data = {
            "severity": {level.label: verdict.value
                         for level, verdict in sorted(self.severity_verdicts.items())},
            "rules": [[o.engine, o.rule, o.verdict.value, o.severity.label if o.severity else None]
                      for o in self.overrides],
            "allowlist": sorted(self.allowlist),
            "limits": dataclasses.asdict(self.limits),
            "engines": self.engine_options,
            "rules_dirs": list(self.rules_dirs),
        }
        text = json.dumps(data, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    def extra_rule_files(self, engine: str) -> list[str]:
        """Return the operator's YARA files for `engine` from `rules_dirs`."""
        files = []
        for directory in self.rules_dirs:
            single = os.path.join(directory, f"{engine}.yar")
            if os.path.isfile(single):
                files.append(single)
            folder = os.path.join(directory, engine)
            if os.path.isdir(folder):
                files.extend(sorted(
                    os.path.join(folder, name) for name in os.listdir(folder)
                    if name.endswith((".yar", ".yara"))
                ))
        return files


def _severity(value: Any) -> Severity:
    try:
        return Severity.parse(value)
    except ValueError as exc:
        raise PolicyError(str(exc)) from exc


def _verdict(value: Any) -> Verdict:
    try:
        verdict = Verdict(str(value).lower())
    except ValueError:
        verdict = None
    if verdict not in FINDING_VERDICTS:
        raise PolicyError(f"a finding's verdict must be clean, review or infected, not {value!r}")
    assert verdict is not None
    return verdict


def _sha256(value: Any) -> str:
    text = str(value).strip().lower()
    if len(text) != 64 or any(ch not in "0123456789abcdef" for ch in text):
        raise PolicyError(f"allowlist entry is not a sha256: {value!r}")
    return text
