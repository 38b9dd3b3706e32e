"""Step 6 of the SOP: the scanned bundle goes to its host's agent, the name into DNS, and the app
gets its Web Panel login.

A failed deploy leaves the step open with a clear reason: nothing is half-made, and it can be retried.
"""
from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from agents.protocol import AppSpec
from agents.protocol.artifacts import ArtifactStore
from panel import audit
from panel.extensions import db
from panel.i18n import gettext as _
from panel.models import (
    App,
    AppAccount,
    AppStatus,
    Release,
    ReleaseStatus,
    RoleKey,
    ScanReport,
    Stack,
    User,
    Verdict,
    Zone,
)
from panel.services.accounts import accounts, passwords
from panel.services.apps import app_lifecycle
from panel.services.infra import dns
from panel.services.infra.gateway import AgentClient, AgentGateway, AgentRefused, AgentUnavailable
from panel.services.releases import release_lifecycle, scanning

logger = logging.getLogger(__name__)

# What an agent sends at most: 512 MiB of files (its own bundle limit) and their tar headers.
BUILD_OUTPUT_MAX_BYTES = 640 * 1024 * 1024


class DeployFailed(RuntimeError):
    """The release did not go live; the message says why and the old release (if any) still serves."""


@dataclass(frozen=True)
class Deployed:
    """A release that went live, and why its name is not yet in the zone, if it is not."""

    release: Release
    dns_problem: str | None = None


@dataclass(frozen=True)
class BuildScanning:
    """What scanning the files a Dockerfile app's build made needs: the scanner and where to work."""

    documents: ArtifactStore  # the readable report goes here, as for a bundle's scan
    clamd_url: str | None
    workdir: Path  # the build's files are downloaded here, and removed after the scan


def deploy(app: App, report: ScanReport, user: User | None, gateway: AgentGateway, zone: Zone,
           env: Mapping[str, str] | None = None, build_scanning: BuildScanning | None = None) -> Deployed:
    """Run the scanned artifact as the app's next release, then make its name resolve.

    Raises DeployFailed while nothing new serves; once the release is live, a DNS server that
    refuses the name is reported in the outcome instead, for the release runs all the same.

    `env` is the app's own environment: the agent runs the new release with exactly that. An app
    with its own Dockerfile is built on its host first; the files the build made are scanned like
    the bundle, and only a deployable verdict on them lets the image be signed and run.
    """
    if not report.deployable:
        raise DeployFailed(
            _("Berkas belum lolos verifikasi keamanan (hasil pindai harus bersih atau diterima)."))
    if app.host is None:
        raise DeployFailed(_("Aplikasi belum dialokasikan ke host."))
    if app.stack == Stack.DOCKERFILE and build_scanning is None:
        raise DeployFailed(_("Aplikasi dengan Dockerfile tidak dapat dipasang tanpa pemindaian "
                             "berkas hasil build."))
    if not app_lifecycle.may_move(app, AppStatus.DEPLOYING):
        raise DeployFailed(_("Aplikasi berstatus %(status)s tidak dapat dipasang.", status=app.status))
    number = latest_release_number(app) + 1
    release = Release(app=app, number=number, artifact_sha256=report.artifact_sha256,
                      scan_report_id=report.id, created_by_id=user.id if user else None)
    db.session.add(release)
    app_lifecycle.deploying(app, user, number)
    db.session.flush()
    verdict = "clean" if report.verdict == Verdict.CLEAN else "review_accepted"
    spec = AppSpec(name=app.name, fqdn=app.fqdn, stack=app.stack, release_id=release.id,
                   artifact_sha256=report.artifact_sha256, env=dict(env or {}),
                   database=app.needs_database, storage_mb=app.storage_mb, listen_address=app.ip)
    try:
        with gateway.client(app.host) as agent:
            agent.ensure_artifact(gateway.artifacts.path(report.artifact_sha256), report.artifact_sha256)
            signature = gateway.ca.sign_release(app.name, release.id, spec.artifact_sha256, verdict)
            image_id = None
            if app.stack == Stack.DOCKERFILE:
                assert build_scanning is not None
                image_id = _build_and_scan(agent, spec, verdict, signature, release, build_scanning)
                # Only now, with what the build made scanned too, is the image itself signed.
                signature = gateway.ca.sign_release(app.name, release.id, spec.artifact_sha256, verdict,
                                                    image_id)
            agent.deploy(spec, verdict, signature, image_id=image_id)
    except (AgentUnavailable, AgentRefused) as failed:  # already said for a person, by the gateway
        _failed(app, release, user)
        raise DeployFailed(str(failed)) from failed
    except DeployFailed:
        _failed(app, release, user)
        raise
    release_lifecycle.deployed(release, user, app=app.name, number=number, image=release.image_id)
    app_lifecycle.deployed(app, user, number)
    try:
        publish_name(app, zone)
    except DeployFailed as unpublished:  # the release serves; only its name waits for the DNS server
        return Deployed(release, str(unpublished))
    return Deployed(release)


def _build_and_scan(agent: AgentClient, spec: AppSpec, verdict: str, signature: str, release: Release,
                    settings: BuildScanning) -> str:
    """Build the release's image on its host, scan the files the build made; return the image id.

    A verdict on them that is not clean drops the build on the host and raises DeployFailed.
    """
    built: dict[str, Any] = agent.build(spec, verdict, signature)
    image_id = str(built["image_id"])
    output = built["output"]
    settings.workdir.mkdir(parents=True, exist_ok=True, mode=0o700)
    with tempfile.TemporaryDirectory(dir=settings.workdir, prefix="build-") as work:
        tar = Path(work) / "output.tar"
        agent.build_output(spec.name, spec.release_id, tar, str(output["sha256"]), BUILD_OUTPUT_MAX_BYTES)
        found = scanning.scan_build_output(release, tar, built, settings.documents, settings.clamd_url)
    release.image_id = image_id
    if found.verdict != Verdict.CLEAN:
        reason = scanning.build_blocked_reason(found)
        # The host drops it anyway once it is a day old.
        with contextlib.suppress(AgentUnavailable, AgentRefused):
            agent.discard_build(spec.name, spec.release_id)
        logger.warning("release %s of %s blocked: its build made files scanned %s", release.number,
                       spec.name, found.verdict)
        raise DeployFailed(reason)
    return image_id


def latest_release_number(app: App) -> int:
    """Return the number of the app's newest release, whatever became of it (0 before the first)."""
    return db.session.scalar(select(func.max(Release.number)).where(Release.app_id == app.id)) or 0


def publish_name(app: App, zone: Zone) -> None:
    """Point the app's name at its host's front address, unless it already resolves."""
    access = dns.ZoneAccess.from_zone(zone)
    address = app.front_ip(zone.record_ip) or zone.record_ip
    try:
        if not dns.name_exists(access, app.subdomain):
            dns.add_address(access, app.subdomain, address, zone.ttl)
            audit.record("dns.add", app, fqdn=app.fqdn, address=address)
    except dns.NameTaken:
        pass  # another panel process added it a moment ago
    except dns.DnsError as error:
        raise DeployFailed(
            _("Aplikasi berjalan, tetapi nama %(fqdn)s belum terdaftar di DNS: %(error)s",
              fqdn=app.fqdn, error=error)) from error


def issue_web_panel_login(app: App, user: User, min_length: int) -> tuple[AppAccount, str]:
    """Create the app's Web Panel login; return it and the password, which is shown once and never kept."""
    if app.account is not None:
        raise DeployFailed(_("Login Web Panel aplikasi ini sudah diterbitkan."))
    password = passwords.generate_password(max(16, min_length))
    login = accounts.create_user(f"app-{app.name}"[:64], password, [RoleKey.APP_ACCOUNT],
                                 full_name=f"Web Panel {app.fqdn}", opd=app.opd, min_length=min_length,
                                 must_change_password=True)
    account = AppAccount(user=login, app=app, issued_by_id=user.id)
    db.session.add(account)
    audit.record("app.issue_login", app, actor=user, username=login.username)
    return account, password


def abandon(app: App) -> None:
    """Fail the app's releases a stopped deploy left pending, so the app can be deployed again."""
    pending = [release for release in app.releases if release.status == ReleaseStatus.PENDING]
    for release in pending:
        _failed(app, release, None)
    if not pending and app.status == AppStatus.DEPLOYING:
        live = any(r.status == ReleaseStatus.LIVE for r in app.releases)
        app_lifecycle.deploy_failed(app, None, latest_release_number(app), still_live=live)


def _failed(app: App, release: Release, user: User | None) -> None:
    release_lifecycle.failed(release, user)
    live = any(r.status == ReleaseStatus.LIVE for r in app.releases)
    app_lifecycle.deploy_failed(app, user, release.number, still_live=live)
