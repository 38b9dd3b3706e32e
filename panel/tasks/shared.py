"""What several kinds of job share: starting a Job row, and reading the panel's configuration."""
from __future__ import annotations

from pathlib import Path

from flask import current_app

from panel import gateway, jobs, storage
from panel.extensions import db
from panel.models import Job
from panel.services.infra.gateway import AgentGateway
from panel.services.releases import deployment


def start(job_id: int) -> Job:
    """Mark a job running and commit, so pollers see it has begun."""
    job = db.session.get_one(Job, job_id)
    jobs.started(job)
    db.session.commit()
    return job


def agents() -> AgentGateway:
    """Return the panel's one door to its agents."""
    return gateway.agents()


def build_scanning() -> deployment.BuildScanning:
    """Return how a deploy scans what a build step makes."""
    return deployment.BuildScanning(documents=storage.attachments(),
                                    clamd_url=current_app.config["CLAMD_URL"],
                                    workdir=Path(current_app.instance_path) / "builds")
