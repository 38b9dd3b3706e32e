"""Jobs on the infrastructure: refreshing hosts' facts from their agents and probing DNS zones."""
from __future__ import annotations

import logging

from huey import crontab
from sqlalchemy import select

from panel import jobs
from panel.extensions import db
from panel.jobs import periodic_task, task
from panel.models import Host, HostStatus, Zone
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
