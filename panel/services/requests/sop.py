"""SOP templates as data: each step's acting role, Mutu Baku and system action, read from TOML.

The built-in templates live in `panel/workflows/`; a Pemda edits roles and times without code.
"""
from __future__ import annotations

import enum
import tomllib
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from panel.i18n import gettext as _
from panel.models import AttachmentKind, RoleKey

BUILTIN_DIR = Path(__file__).resolve().parents[2] / "workflows"
DEFAULT_TEMPLATE = "muara_enim"
DEVELOPMENT_TEMPLATE = "pengembangan_aplikasi"  # SOP 002, whose Rekomendasi a hosting request names
DOCUMENT_KINDS = frozenset(AttachmentKind)  # kelengkapan items that are documents on the request


class StepAction(enum.StrEnum):
    """What the system does at a step; the rest are a person's decision or acknowledgement."""

    SUBMIT = "submit"
    DISPOSE = "dispose"
    REVIEW = "review"
    DECIDE = "decide"
    CAPACITY_CHECK = "capacity_check"
    PROVISION = "provision"
    DOCUMENT_INFRASTRUCTURE = "document_infrastructure"
    SCAN = "scan"
    ALLOCATE = "allocate"
    DEPLOY = "deploy"
    DOCUMENT_APPLICATION = "document_application"
    HOSTING_REPORT = "hosting_report"
    RESPONSE_LETTER = "response_letter"
    RECOMMENDATION_LETTER = "recommendation_letter"
    WORK = "work"  # a person's task with no system output (SOP 002's analysis, development, ...)
    ACKNOWLEDGE = "acknowledge"


class TemplateKind(enum.StrEnum):
    """What a request under the template ends in: a hosted app, or (SOP 002) a developed app."""

    HOSTING = "hosting"
    DEVELOPMENT = "pengembangan"


class EndState(enum.StrEnum):
    """Where a branch may lead instead of a step: the end of the request."""

    REJECTED = "ditolak"
    DONE = "selesai"


# No byte reaches a server without these steps (in a hosting template).
REQUIRED_ACTIONS = (StepAction.SCAN, StepAction.ALLOCATE, StepAction.DEPLOY)


class InvalidTemplate(ValueError):
    pass


@dataclass(frozen=True)
class SopStep:
    key: str
    label: str
    role: RoleKey
    action: StepAction
    kelengkapan: tuple[str, ...] = ()  # required inputs
    waktu: timedelta | None = None  # Mutu Baku time limit
    output: str = ""
    branches: dict[str, str] = field(default_factory=dict)  # decision → next step key
    actor: str = ""  # the SOP's own name for who acts, when it differs from the role's label

    @property
    def required_documents(self) -> tuple[str, ...]:
        """Return the kelengkapan items that name a document (an attachment kind)."""
        return tuple(item for item in self.kelengkapan if item in DOCUMENT_KINDS)


@dataclass(frozen=True)
class SopTemplate:
    key: str
    name: str
    source: str
    steps: tuple[SopStep, ...]
    request_attachments: tuple[str, ...] = ()
    kind: TemplateKind = TemplateKind.HOSTING

    def step(self, key: str) -> SopStep:
        for step in self.steps:
            if step.key == key:
                return step
        raise KeyError(key)

    def next_key(self, key: str, decision: str | None = None) -> str:
        """Return the step that follows `key` given `decision` (the next in order when none applies)."""
        step = self.step(key)
        if step.branches:
            if decision not in step.branches:
                raise InvalidTemplate(_("langkah %(step)s menunggu keputusan: %(decisions)s",
                                        step=key, decisions=sorted(step.branches)))
            return step.branches[decision]
        keys = [s.key for s in self.steps]
        position = keys.index(key)
        return keys[position + 1] if position + 1 < len(keys) else EndState.DONE


def parse(data: dict[str, Any]) -> SopTemplate:
    """Build and check a template from its TOML data; raise InvalidTemplate naming the fault."""
    try:
        steps = tuple(
            SopStep(
                key=raw["key"],
                label=raw["label"],
                role=RoleKey(raw["role"]),
                action=_action(data, raw),
                kelengkapan=tuple(raw.get("kelengkapan", ())),
                waktu=timedelta(minutes=raw["waktu_menit"]) if "waktu_menit" in raw else None,
                output=raw.get("output", ""),
                branches=dict(raw.get("branches", {})),
                actor=raw.get("actor", ""),
            )
            for raw in data["steps"]
        )
        template = SopTemplate(
            key=data["key"], name=data["name"], source=data.get("source", ""), steps=steps,
            request_attachments=tuple(data.get("request_attachments", ())),
            kind=TemplateKind(data.get("kind", TemplateKind.HOSTING)),
        )
    except InvalidTemplate:
        raise
    except (KeyError, ValueError, TypeError) as fault:
        raise InvalidTemplate(_("templat SOP tidak sah: %(fault)s", fault=repr(fault))) from fault
    _check(template)
    return template


def _check(template: SopTemplate) -> None:
    keys = [step.key for step in template.steps]
    if len(set(keys)) != len(keys):
        raise InvalidTemplate(_("%(template)s: kunci langkah ganda", template=template.key))
    if not template.steps or template.steps[0].action != StepAction.SUBMIT:
        raise InvalidTemplate(_("%(template)s: langkah pertama harus pengajuan (submit)",
                                template=template.key))
    for step in template.steps:
        if step.waktu is not None and step.waktu <= timedelta(0):
            raise InvalidTemplate(_("%(template)s.%(step)s: waktu harus positif",
                                    template=template.key, step=step.key))
        for target in step.branches.values():
            if target not in keys and target not in set(EndState):
                raise InvalidTemplate(_("%(template)s.%(step)s: cabang ke langkah tak dikenal %(target)s",
                                        template=template.key, step=step.key, target=repr(target)))
    for action in REQUIRED_ACTIONS if template.kind == TemplateKind.HOSTING else ():
        if action not in {step.action for step in template.steps}:
            raise InvalidTemplate(_("%(template)s: tidak ada langkah %(action)s",
                                    template=template.key, action=action))


def _action(data: dict[str, Any], raw: dict[str, Any]) -> StepAction:
    try:
        return StepAction(raw["action"])
    except ValueError:
        raise InvalidTemplate(_("%(template)s.%(step)s: aksi tidak dikenal %(action)s",
                                template=data["key"], step=raw["key"], action=repr(raw["action"]))) from None


def builtin_definitions() -> dict[str, dict[str, Any]]:
    """Return the raw data of the templates shipped with Wadah, by key."""
    definitions = {}
    for path in sorted(BUILTIN_DIR.glob("*.toml")):
        with path.open("rb") as fh:
            data = tomllib.load(fh)
        definitions[data["key"]] = data
    return definitions


def builtin_templates() -> dict[str, SopTemplate]:
    """Return the templates shipped with Wadah, parsed and checked, by key."""
    return {key: parse(data) for key, data in builtin_definitions().items()}
