"""A step's kelengkapan (required inputs) as people see it: each item, and whether a document is there."""
from __future__ import annotations

from dataclasses import dataclass

from panel.models import AttachmentKind, HostingRequest
from panel.services.requests import recommendations
from panel.services.requests.attachments import LABELS
from panel.services.requests.sop import DOCUMENT_KINDS, SopStep

# Kelengkapan items that are not documents on the request, as the SOP names them.
OTHER_LABELS = {"berkas_aplikasi": "Berkas aplikasi", "web_panel_login": "Web Panel Login",
                "spesifikasi_server": "Spesifikasi server"}


@dataclass(frozen=True)
class Item:
    key: str
    label: str
    document: bool  # an attachment kind: the step does not finish without it
    present: bool


def of_step(request: HostingRequest, step: SopStep) -> tuple[Item, ...]:
    """Return the step's kelengkapan, marking which documents the request already holds."""
    kinds = {a.kind for a in request.attachments}
    return tuple(
        Item(key=item, label=str(LABELS[AttachmentKind(item)]) if item in DOCUMENT_KINDS
             else OTHER_LABELS.get(item, item.replace("_", " ")),
             document=item in DOCUMENT_KINDS, present=item in kinds)
        for item in step.kelengkapan)


def referenced(request: HostingRequest) -> dict[int, HostingRequest]:
    """Return, by attachment id, the SOP 002 requests whose Rekomendasi this request names."""
    found = {}
    for attachment in request.attachments:
        source = recommendations.source_of(attachment)
        if source is not None:
            found[attachment.id] = source
    return found
