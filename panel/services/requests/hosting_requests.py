"""Filing a hosting request (Permohonan): the letters, the app bundle, and the SOP's first step.

Everything cheap is checked before anything is stored, and a repeated submission (a double click,
a retried POST) returns the request the first one made. A submission key belongs to the user who
sent it: the same key from someone else files that person's own request, and the same key sent
again with other content is refused rather than answered with the first request.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import BinaryIO

from sqlalchemy import select

from agents import protocol
from agents.protocol.artifacts import ArtifactStore, ArtifactTooLarge
from panel import audit
from panel.extensions import db
from panel.i18n import gettext as _
from panel.models import Artifact, Attachment, AttachmentKind, HostingRequest, Stack, User
from panel.services.infra import subdomains
from panel.services.refused import Refused
from panel.services.requests import attachments as documents
from panel.services.requests import recommendations, sop, workflow

MAX_SUBMISSION_KEY = 64
_CHUNK = 1024 * 1024


class RequestRefused(Refused):
    """The request cannot be filed as given; the message says what to fix."""


class SubmissionKeyReused(RequestRefused):
    """The user already filed a request with this submission key, and with other content."""


@dataclass(frozen=True)
class Upload:
    filename: str
    stream: BinaryIO


@dataclass(frozen=True)
class Limits:
    bundle_bytes: int
    attachment_bytes: int


def required_attachments(template_key: str) -> tuple[str, ...]:
    return sop.parse(workflow.latest_version(template_key).definition).request_attachments


def file_request(
    user: User,
    draft: workflow.RequestDraft,
    attachments: Mapping[str, Upload],
    bundle: Upload | None,
    *,
    submission_key: str | None,
    template_key: str,
    number_pattern: str,
    attachment_store: ArtifactStore,
    artifact_store: ArtifactStore,
    limits: Limits,
    subdomain_policy: subdomains.SubdomainPolicy,
    recommendation: str = "",
) -> HostingRequest:
    """File `draft` for the user's OPD with its letters and bundle; return the new request.

    A second call by the same user with the same `submission_key` and the same content returns the
    request the first call filed; with other content it raises `SubmissionKeyReused`. A
    `recommendation` names a finished SOP 002 request's Rekomendasi in place of an uploaded one.
    """
    recommendation = recommendation.strip()
    if recommendation and AttachmentKind.RECOMMENDATION in attachments:
        raise RequestRefused(_("Unggah surat rekomendasi atau sebutkan nomor rekomendasinya, "
                               "bukan keduanya."))
    if not submission_key or len(submission_key) > MAX_SUBMISSION_KEY:
        raise RequestRefused(_("Kunci pengiriman wajib berupa teks 1–%(max)d karakter.",
                               max=MAX_SUBMISSION_KEY))
    earlier = db.session.scalar(select(HostingRequest).where(
        HostingRequest.submitted_by_id == user.id, HostingRequest.submission_key == submission_key))
    if earlier is not None:
        return _repeat_of(earlier, draft, attachments, bundle, limits, recommendation)
    if user.opd is None:
        raise RequestRefused(_("Akun Anda tidak terhubung ke OPD mana pun."))
    if not user.opd.active:
        raise RequestRefused(_("OPD %(code)s dinonaktifkan; permohonan baru tidak diterima.",
                               code=user.opd.code))
    _check_draft(draft, subdomain_policy)
    referenced = recommendations.find(recommendation, user.opd) if recommendation else None
    provided = {*attachments, *([AttachmentKind.RECOMMENDATION] if referenced else [])}
    missing = [kind for kind in required_attachments(template_key) if kind not in provided]
    if missing:
        raise RequestRefused(_("Lampiran wajib belum ada: %(documents)s",
                               documents=", ".join(_label(k) for k in missing)))

    stored = []
    for kind, upload in attachments.items():
        try:
            sha256, size = documents.store_pdf(attachment_store, upload.stream, limits.attachment_bytes)
        except documents.DocumentRefused as refused:
            raise RequestRefused(_("%(document)s: %(problem)s",
                                   document=_label(kind), problem=refused)) from refused
        stored.append(Attachment(kind=kind, filename=_clean_filename(upload.filename), sha256=sha256,
                                 size=size, content_type="application/pdf", uploaded_by_id=user.id))
    artifact = store_bundle(user, bundle, artifact_store, limits.bundle_bytes) if bundle else None

    request = workflow.submit(user, user.opd, draft, template_key, number_pattern)
    request.submission_key = submission_key
    request.submission_digest = _digest(draft, {a.kind: a.sha256 for a in stored},
                                        artifact.sha256 if artifact else None, recommendation)
    request.artifact_sha256 = artifact.sha256 if artifact else None
    request.attachments.extend(stored)
    if referenced is not None:
        recommendations.attach(request, referenced, user)
    audit.record("request.attachments", request, kinds=sorted(attachments), bundle=bool(artifact))
    return request


def _repeat_of(earlier: HostingRequest, draft: workflow.RequestDraft, attachments: Mapping[str, Upload],
               bundle: Upload | None, limits: Limits, recommendation: str) -> HostingRequest:
    # Only the content that the key first filed may be answered with the request it filed.
    sent = _digest(draft, {kind: _sha256(upload.stream, limits.attachment_bytes)
                           for kind, upload in attachments.items()},
                   _sha256(bundle.stream, limits.bundle_bytes) if bundle else None, recommendation)
    if earlier.submission_digest is not None and earlier.submission_digest != sent:
        raise SubmissionKeyReused(_(
            "Kunci pengiriman ini sudah dipakai untuk permohonan %(number)s dengan isi yang berbeda; "
            "kirim permohonan baru dengan kunci baru.", number=earlier.number))
    return earlier


def _digest(draft: workflow.RequestDraft, letters: Mapping[str, str], bundle: str | None,
            recommendation: str = "") -> str:
    content: dict[str, object] = {"draft": dataclasses.asdict(draft),
                                  "letters": dict(sorted(letters.items())), "bundle": bundle}
    if recommendation:  # only when named, so digests of requests filed before stay the same
        content["recommendation"] = recommendation
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def _sha256(stream: BinaryIO, max_bytes: int) -> str:
    # Past the limit the content cannot be what was filed, so reading stops there.
    digest, left = hashlib.sha256(), max_bytes + 1
    while left > 0 and (chunk := stream.read(min(_CHUNK, left))):
        digest.update(chunk)
        left -= len(chunk)
    return digest.hexdigest()


def store_bundle(user: User, bundle: Upload, store: ArtifactStore, max_bytes: int) -> Artifact:
    """Store an app bundle by its sha256 (once, however often it is uploaded)."""
    try:
        sha256, size = store.put(bundle.stream, max_bytes)
    except ArtifactTooLarge as error:
        raise RequestRefused(_("Berkas aplikasi melebihi batas %(size)d MB.",
                                size=max_bytes // (1024 * 1024))) from error
    artifact = db.session.get(Artifact, sha256)
    if artifact is None:
        artifact = Artifact(sha256=sha256, size=size, original_name=_clean_filename(bundle.filename),
                            uploaded_by_id=user.id)
        db.session.add(artifact)
        audit.record("artifact.store", artifact, size=size)
    return artifact


def _check_draft(draft: workflow.RequestDraft, policy: subdomains.SubdomainPolicy) -> None:
    if not draft.app_name.strip():
        raise RequestRefused(_("Nama aplikasi wajib diisi."))
    check_subdomain(draft.subdomain, policy)
    try:
        protocol.stack(draft.stack)
    except protocol.InvalidName as invalid:
        raise RequestRefused(str(invalid)) from invalid
    if draft.needs_database and draft.stack == Stack.STATIC:
        raise RequestRefused(_("Situs statis tidak dapat memakai basis data; pilih PHP atau Dockerfile."))


def check_subdomain(name: str, policy: subdomains.SubdomainPolicy,
                    except_request_id: int | None = None) -> None:
    """Raise RequestRefused unless `name` passes the policy and no app or other open request holds it."""
    try:
        policy.check(name)
        subdomains.check_free_in_wadah(name, except_request_id)
    except subdomains.SubdomainRefused as refused:
        raise RequestRefused(_("Sub-domain: %(reason)s", reason=refused.reason)) from refused


def change_subdomain(request: HostingRequest, user: User, name: str,
                     policy: subdomains.SubdomainPolicy) -> None:
    """Give a request that is back with its OPD another subdomain, checked as at filing."""
    workflow.expect_with_opd(request)
    check_subdomain(name, policy, except_request_id=request.id)
    workflow.change_subdomain(request, user, name)


def _label(kind: str) -> str:
    try:
        return str(ATTACHMENT_LABELS[AttachmentKind(kind)])
    except ValueError:
        return kind


def _clean_filename(name: str) -> str:
    # Shown back to people only; the stored file is named by its sha256.
    return "".join(c for c in name if c.isprintable() and c not in "/\\")[:200] or "berkas"


ATTACHMENT_LABELS = documents.LABELS
