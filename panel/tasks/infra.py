"""Jobs on the infrastructure: refreshing hosts' facts from their agents and probing DNS zones."""
from __future__ import annotations

import logging
from datetime import UTC, datetime
from functools import partial

from flask import current_app
from huey import crontab
from sqlalchemy import or_, select, update

from panel import audit, jobs
from panel.extensions import db
from panel.jobs import periodic_task, task
from panel.models import Host, HostStatus, RoleKey, Zone
from panel.models.base import utcnow
from panel.services import notify
from panel.services.infra import dns, hosts
from panel.services.infra.gateway import AgentRefused, AgentUnavailable
from panel.tasks import shared

logger = logging.getLogger(__name__)


@periodic_task(crontab(minute="*"))
def refresh_hosts() -> int:
    """Ask every enrolled host's agent for its facts, so allocation sees current capacity."""
    agent_gateway = shared.agents()
    enrolled = db.session.scalars(select(Host).where(
        Host.cert_fingerprint.is_not(None),
        Host.status.in_([HostStatus.ONLINE, HostStatus.UNREACHABLE]))).all()
    for host in enrolled:
        try:
            hosts.refresh_facts(agent_gateway, host)
        except (AgentUnavailable, AgentRefused) as unreachable:
            logger.warning("%s", unreachable)
    db.session.commit()
    return len(enrolled)


@periodic_task(crontab(minute="7"))
def notify_expiring_certificates() -> int:
    """Email technicians once per certificate that a host's expires within 30 days; return how many."""
    now, handled = utcnow(), 0
    smtp = notify.SmtpSettings.from_config(current_app.config)
    for host_id in [h.id for h in hosts.certificates_expiring(now, hosts.EXPIRY_NOTICE_BEFORE)]:
        # Claimed before sending, so two runs never mail the same certificate twice.
        claimed = db.session.execute(
            update(Host).where(Host.id == host_id, Host.cert_fingerprint.is_not(None),
                               or_(Host.expiry_notice_for.is_(None),
                                   Host.expiry_notice_for != Host.cert_fingerprint))
            .values(expiry_notice_for=Host.cert_fingerprint))
        db.session.commit()
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            continue
        host = db.session.get_one(Host, host_id)
        days = max(0, (_aware(host.cert_not_after) - now).days) if host.cert_not_after else 0
        users = notify.recipients(RoleKey.TECHNICIAN)
        delivery = notify.send_to_each_in_their_language(
            smtp, partial(notify.certificate_expiring, host, days), users)
        audit.record("host.expiry_notice", host, fingerprint=host.cert_fingerprint,
                     delivery=delivery.value, recipients=len(users))
        db.session.commit()
        handled += 1
    return handled


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # SQLite keeps UTC naive


@task()
def refresh_host(job_id: int, host_id: int) -> str:
    """Ask one host's agent for its facts now, as the administrator asked, reporting on its Job row."""
    job = shared.start(job_id)
    host = db.session.get_one(Host, host_id)
    try:
        facts = hosts.refresh_facts(shared.agents(), host)
    except (AgentUnavailable, AgentRefused) as unreachable:
        jobs.failed(job, str(unreachable))  # the host stays marked unreachable
    else:
        jobs.succeeded(job, f"Fakta {host.name} diperbarui", {"apps_total": facts.get("apps_total")})
    db.session.commit()
    return job.status


@task()
def probe_zone(job_id: int, zone_id: int) -> str:
    """Check a zone's primary serves it and accepts its TSIG key, reporting on its Job row."""
    job = shared.start(job_id)
    zone = db.session.get_one(Zone, zone_id)
    try:
        serial = dns.probe(dns.ZoneAccess.from_zone(zone))
    except dns.DnsError as error:  # the messages name the server and the key, never the secret
        jobs.failed(job, str(error))
    else:
        jobs.succeeded(job, f"Server DNS melayani zona {zone.name} dan menerima kunci TSIG-nya "
                            f"(serial SOA {serial})", {"serial": serial})
    db.session.commit()
    return job.status
