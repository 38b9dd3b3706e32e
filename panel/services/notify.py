"""Email notices, each in its reader's language: a step assigned or overdue, a deploy finished or failed.

Sending never raises for a mail fault: a notice is a courtesy and must not break the workflow.
"""
from __future__ import annotations

import enum
import ipaddress
import logging
import math
import smtplib
import ssl
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid, parseaddr
from itertools import groupby
from typing import Any

from sqlalchemy import select

from panel import i18n
from panel.extensions import db
from panel.i18n import gettext as _
from panel.i18n import lazy_gettext as _l
from panel.models import (
    App,
    AppFinding,
    Host,
    HostingRequest,
    Release,
    ReleaseStatus,
    RequestStatus,
    RequestStep,
    Role,
    RoleKey,
    User,
)
from panel.services.requests.sla import StepTiming

logger = logging.getLogger(__name__)

# Roles that belong to one agency: their notices go only to users of that agency.
OPD_SCOPED_ROLES = frozenset({RoleKey.OPD_ADMIN})
FOOTER = _l("Pesan ini dikirim otomatis oleh Wadah. Silakan masuk ke panel Wadah untuk menindaklanjuti.")


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 25
    mail_from: str = "wadah@localhost"
    starttls: bool = False
    username: str = ""
    password: str = field(default="", repr=False)
    timeout: float = 10.0

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SmtpSettings:
        """Read the SMTP_* and MAIL_FROM keys of the panel's configuration."""
        return cls(
            host=config.get("SMTP_HOST") or "",
            port=int(config.get("SMTP_PORT") or 25),
            mail_from=config.get("MAIL_FROM") or "wadah@localhost",
            starttls=bool(config.get("SMTP_STARTTLS")),
            username=config.get("SMTP_USERNAME") or "",
            password=config.get("SMTP_PASSWORD") or "",
            timeout=float(config.get("SMTP_TIMEOUT") or 10),
        )


@dataclass(frozen=True)
class Notice:
    subject: str
    body: str


class Delivery(enum.StrEnum):
    SENT = "sent"
    NOT_CONFIGURED = "not_configured"  # SMTP_HOST is empty: the notice is only logged
    NO_RECIPIENTS = "no_recipients"
    FAILED = "failed"


def recipients(role: str, opd_id: int | None = None) -> list[User]:
    """Return the active users holding `role` who have an email address, of `opd_id` for agency roles."""
    query = select(User).join(User.roles).where(
        Role.key == role, User.active.is_(True), User.email.is_not(None), User.email != ""
    )
    if role in OPD_SCOPED_ROLES:
        if opd_id is None:
            return []
        query = query.where(User.opd_id == opd_id)
    return list(db.session.scalars(query.order_by(User.id)))


def app_recipients(app: App) -> list[User]:
    """Return the app's agency administrators and its Web Panel account, those with an email address."""
    users = recipients(RoleKey.OPD_ADMIN, app.opd_id)
    account = app.account.user if app.account else None
    if account and account.active and account.email and account not in users:
        users.append(account)
    return users


def step_assigned(request: HostingRequest, step: RequestStep, label: str) -> Notice:
    """Tell a role that the request's step now awaits them."""
    number = _number(request)
    if step.due_minutes:
        line = _("Permohonan %(number)s menunggu tindakan Anda: %(step)s, Mutu Baku %(minutes)d menit.",
                 number=number, step=label, minutes=step.due_minutes)
    else:
        line = _("Permohonan %(number)s menunggu tindakan Anda: %(step)s.", number=number, step=label)
    return Notice(subject=_("Permohonan %(number)s menunggu tindakan Anda", number=number),
                  body=f"{line}\n\n{_about(request)}")


def step_overdue(request: HostingRequest, label: str, timing: StepTiming) -> Notice:
    """Tell a role that the request's step has run past its Mutu Baku."""
    number, elapsed = _number(request), math.ceil(timing.elapsed_minutes)
    due = timing.due_minutes or 0
    return Notice(
        subject=_("Permohonan %(number)s melewati Mutu Baku", number=number),
        body=_("Langkah \"%(step)s\" pada permohonan %(number)s melewati Mutu Baku %(due)d menit: sudah "
               "berjalan %(elapsed)d menit (terlambat %(late)d menit).\nMohon segera ditindaklanjuti.",
               step=label, number=number, due=due, elapsed=elapsed, late=elapsed - due)
             + f"\n\n{_about(request)}",
    )


def request_ended(request: HostingRequest, reason: str) -> Notice:
    """Tell the OPD that its request was rejected, withdrawn or closed, and why."""
    number = _number(request)
    if request.status == RequestStatus.REJECTED:
        subject = _("Permohonan %(number)s ditolak", number=number)
        line = _("Permohonan %(number)s ditolak. Alasan: %(reason)s", number=number, reason=reason or "-")
    elif request.status == RequestStatus.WITHDRAWN:
        subject = _("Permohonan %(number)s ditarik", number=number)
        line = _("Permohonan %(number)s telah ditarik. Alasan: %(reason)s",
                 number=number, reason=reason or "-")
    else:
        subject = _("Permohonan %(number)s selesai", number=number)
        line = _("Permohonan %(number)s telah selesai diproses.", number=number)
    return Notice(subject=subject, body=f"{line}\n\n{_about(request)}")


def deploy_finished(app: App, release: Release) -> Notice:
    """Tell an app's administrators that a release now serves their app."""
    return Notice(
        subject=_("Rilis #%(number)d %(fqdn)s berhasil diterapkan", number=release.number, fqdn=app.fqdn),
        body=_("Rilis #%(number)d aplikasi %(app)s berhasil diterapkan dan kini melayani https://%(fqdn)s.",
               number=release.number, app=app.name, fqdn=app.fqdn) + f"\n\n{FOOTER}",
    )


def deploy_failed(app: App, release: Release) -> Notice:
    """Tell an app's administrators that a release could not be deployed."""
    live = any(r.status == ReleaseStatus.LIVE and r.id != release.id for r in app.releases)
    still = (_("Versi sebelumnya tetap berjalan.") if live
             else _("Aplikasi belum berjalan sampai rilis berhasil diterapkan."))
    return Notice(
        subject=_("Penerapan rilis #%(number)d %(fqdn)s gagal", number=release.number, fqdn=app.fqdn),
        body=_("Penerapan rilis #%(number)d aplikasi %(app)s gagal.", number=release.number, app=app.name)
             + f" {still} " + _("Rincian kegagalan ada di panel Wadah.") + f"\n\n{FOOTER}",
    )


def certificate_expiring(host: Host, days_left: int) -> Notice:
    """Tell technicians that a host's agent certificate is about to expire without renewal."""
    return Notice(
        subject=_("Sertifikat agen %(host)s berakhir dalam %(days)d hari", host=host.name,
                  days=days_left),
        body=_("Sertifikat agen host %(host)s berakhir dalam %(days)d hari dan belum diperbarui "
               "otomatis. Periksa log agen; bila agen kehilangan kuncinya, daftarkan ulang dengan "
               "`wadah host reenroll %(host)s`. Setelah sertifikat berakhir, panel tidak dapat "
               "menghubungi host ini.", host=host.name, days=days_left) + f"\n\n{FOOTER}",
    )


def app_removed(app: App) -> Notice:
    """Tell an app's administrators that their app was decommissioned, and why."""
    return Notice(
        subject=_("Aplikasi %(fqdn)s telah dihapus", fqdn=app.fqdn),
        body=_("Aplikasi %(app)s (%(fqdn)s) telah dihapus dari server dan DNS oleh Diskominfo.\n"
               "Alasan: %(reason)s", app=app.name, fqdn=app.fqdn, reason=app.removal_reason or "")
             + ("\n" + _("Cadangan akhir basis datanya disimpan sementara di server: %(dump)s",
                         dump=app.removal_dump) if app.removal_dump else "")
             + f"\n\n{FOOTER}",
    )


def app_and_technicians(app: App) -> list[User]:
    """Return the app's administrators (as `app_recipients`) and the data center's technicians."""
    users = app_recipients(app)
    users += [user for user in recipients(RoleKey.TECHNICIAN) if user not in users]
    return users


def findings_found(app: App, findings: Iterable[AppFinding]) -> Notice:
    """Tell an app's administrators and the technicians what its host found in the app's data."""
    found = list(findings)
    lines = "\n".join(f"- {f.served_path} ({f.rule}, {f.engine}): {_finding_action(f.action)}"
                      for f in found)
    return Notice(
        subject=_("Berkas berbahaya ditemukan di %(fqdn)s", fqdn=app.fqdn),
        body=_("Agen host menemukan %(count)d berkas mencurigakan di data aplikasi %(app)s:",
               count=len(found), app=app.name)
             + f"\n{lines}\n\n"
             + _("Berkas yang dikarantina tidak lagi dilayani. Teknisi dapat memulihkannya bila "
                 "temuan itu keliru; rinciannya ada di Web Panel aplikasi.") + f"\n\n{FOOTER}",
    )


def crash_loop_began(app: App) -> Notice:
    """Tell an app's administrators and the technicians that the app keeps dying after it starts."""
    return Notice(
        subject=_("Aplikasi %(fqdn)s terus mati", fqdn=app.fqdn),
        body=_("Kontainer aplikasi %(app)s berulang kali mati setelah dijalankan (crash loop). Agen "
               "host menjalankannya lagi dengan jeda yang makin panjang. Periksa log aplikasi di "
               "Web Panel; pesan ini dikirim sekali untuk setiap kejadian.", app=app.name)
             + f"\n\n{FOOTER}",
    )


def _finding_action(action: str) -> str:
    return _("dikarantina") if action == "quarantined" else _("dilaporkan")


def send_to_each_in_their_language(settings: SmtpSettings, compose: Callable[[], Notice],
                                   to: Iterable[User]) -> Delivery:
    """Compose the notice once per language its readers chose and send each reader their own.

    Returns SENT if any group was sent, else the first group's outcome (FAILED wins over the rest).
    """
    def language(user: User) -> str:
        return user.locale if user.locale is not None and i18n.valid(user.locale) else i18n.DEFAULT_LOCALE

    outcomes = []
    for locale, readers in groupby(sorted(to, key=language), key=language):
        with i18n.speaking(locale):
            outcomes.append(send(settings, compose(), list(readers)))
    if not outcomes:
        return Delivery.NO_RECIPIENTS
    if Delivery.FAILED in outcomes:
        return Delivery.FAILED
    return Delivery.SENT if Delivery.SENT in outcomes else outcomes[0]


def send(settings: SmtpSettings, notice: Notice, to: Iterable[User]) -> Delivery:
    """Email `notice` to each user separately; log a fault and report it instead of raising."""
    addressed = [(user.full_name or user.username, user.email) for user in to if user.email]
    if not addressed:
        logger.info("email %r not sent: no recipients", notice.subject)
        return Delivery.NO_RECIPIENTS
    if not settings.host:
        logger.info("SMTP_HOST empty; email %r for %d recipients not sent", notice.subject,
                    len(addressed))
        return Delivery.NOT_CONFIGURED
    if settings.username and not settings.starttls and not _is_loopback(settings.host):
        logger.warning("email %r not sent: SMTP credentials are never sent without STARTTLS",
                       notice.subject)
        return Delivery.FAILED
    accepted = 0
    try:
        with smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout) as smtp:
            if settings.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.username:
                smtp.login(settings.username, settings.password)
            for name, address in addressed:
                try:
                    smtp.send_message(_message(settings, notice, name, address))
                    accepted += 1
                except smtplib.SMTPRecipientsRefused:
                    logger.warning("SMTP server refused recipient %s of email %r", address, notice.subject)
    except (smtplib.SMTPException, OSError) as fault:
        logger.warning("email %r not sent through %s:%d: %s", notice.subject, settings.host,
                       settings.port, fault)
        return Delivery.FAILED
    logger.info("email %r sent to %d of %d recipients", notice.subject, accepted, len(addressed))
    return Delivery.SENT if accepted else Delivery.FAILED


def _message(settings: SmtpSettings, notice: Notice, name: str, address: str) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = " ".join(notice.subject.split())  # a header never carries a line break
    message["From"] = settings.mail_from
    message["To"] = formataddr((name, address))
    message["Date"] = formatdate(usegmt=True)
    # An explicit domain: without one make_msgid looks the host name up in DNS.
    domain = parseaddr(settings.mail_from)[1].rpartition("@")[2] or "localhost"
    message["Message-ID"] = make_msgid(domain=domain)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: autoresponders must not answer
    message.set_content(_("Yth. %(name)s,", name=name) + f"\n\n{notice.body}\n")
    return message


def _about(request: HostingRequest) -> str:
    app = _("Aplikasi: %(name)s (%(subdomain)s)", name=request.app_name, subdomain=request.subdomain)
    return f"{app}\nOPD: {request.opd.name}\n\n{FOOTER}"


def _number(request: HostingRequest) -> str:
    return request.number or f"#{request.id}"


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"
