"""Two attacks a hostile OPD makes through the panel itself, with its own valid accounts.

1. OPD B sends `POST /api/v1/requests` with the `Idempotency-Key` OPD A used: it must file its own
   request and learn nothing of A's.
2. On its app's Web Panel, the OPD asks for variables that make the runtime load code from the app's
   writable storage (`LD_PRELOAD`, `PHP_INI_SCAN_DIR`): the panel refuses, and so does the real
   agent when asked directly, past the panel's check.
"""
from __future__ import annotations

import io
import secrets
from pathlib import Path
from typing import Any

import docker
import pytest
from flask import Flask
from sqlalchemy import func, select

from panel.extensions import db
from panel.models import App, AppEnvVar, HostingRequest, RoleKey
from panel.services.infra import hosts
from panel.services.infra.agent_client import AgentRefused
from tests.panel import factories, flow
from tests.panel.agent import running_agent
from tests.support import tar_gz

pytestmark = pytest.mark.slow

LOADERS = {"LD_PRELOAD": "/srv/app/storage/x.so", "PHP_INI_SCAN_DIR": "/srv/app/storage"}


def _file(client: Any, user: Any, key: str, **fields: str) -> Any:
    _token, secret = factories.api_token(user)
    db.session.commit()
    data = {"app_name": "Sistem Kepegawaian", "stack": "static",
            "letter_surat_permohonan": (io.BytesIO(factories.MINIMAL_PDF), "surat.pdf"),
            "bundle": (io.BytesIO(tar_gz({"index.html": f"<h1>{fields['subdomain']}</h1>"})),
                       "situs.tar.gz"), **fields}
    return client.post("/api/v1/requests", data=data, content_type="multipart/form-data",
                       headers={"Authorization": f"Bearer {secret}", "Idempotency-Key": key})


def test_another_opds_idempotency_key_files_its_own_request_and_leaks_nothing(app: Flask) -> None:
    client = app.test_client()
    victim, attacker = factories.user([RoleKey.OPD_ADMIN]), factories.user([RoleKey.OPD_ADMIN])
    contact, plan = "Andi, 0812-7777-0001", "Rencana migrasi server kepegawaian"
    first = _file(client, victim, "kunci-bersama", subdomain="simpeg", contact=contact, description=plan)
    assert first.status_code == 201
    filed = db.session.get(HostingRequest, first.get_json()["id"])
    kept = (filed.contact, filed.description, filed.subdomain, filed.submitted_by_id)

    second = _file(client, attacker, "kunci-bersama", subdomain="sipeda", contact="Sari, 0813")

    assert second.status_code == 201 and second.get_json()["id"] != filed.id
    for secret in (contact, plan, filed.number, "simpeg", filed.artifact_sha256):
        assert secret not in second.get_data(as_text=True)
    db.session.expire_all()
    assert (filed.contact, filed.description, filed.subdomain, filed.submitted_by_id) == kept
    assert db.session.scalar(select(func.count()).select_from(HostingRequest)) == 2


def test_variables_that_load_code_are_refused_by_the_web_panel_and_the_agent(
    app: Flask, testbed: dict[str, dict[str, Any]], dns_zone: dict[str, Any], runtime_images: Any,
    docker_client: docker.DockerClient, tmp_path: Path,
) -> None:
    zone, agents = flow.on_testbed(app, testbed, dns_zone)
    technician_user = factories.user([RoleKey.TECHNICIAN])
    db.session.commit()
    subdomain = f"muatkode{secrets.token_hex(3)}"
    with running_agent(agents, "host-muat-kode", testbed, tmp_path) as host:
        hosts.refresh_facts(agents, host)
        filed = flow.approved_request(subdomain=subdomain)
        try:
            flow.deploy_and_hand_over(flow.signed_in(app, technician_user), filed, flow.site("halo"))
            app_row = db.session.scalar(select(App).where(App.request_id == filed.id))
            opd_admin = factories.user([RoleKey.OPD_ADMIN], opd=app_row.opd)
            db.session.commit()
            client = flow.signed_in(app, opd_admin)
            for name, value in LOADERS.items():
                refused = flow.post(client, f"/apps/{app_row.id}/env", name=name, value=value)
                assert refused.status_code == 400
                assert "tidak pernah dipindai" in refused.get_data(as_text=True)
            assert db.session.scalar(select(func.count()).select_from(AppEnvVar)) == 0

            # Past the panel's check, the agent refuses the same variables itself.
            with agents.client(host) as agent:
                before = agent.env(app_row.name)
                for name, value in LOADERS.items():
                    with pytest.raises(AgentRefused) as denied:
                        agent.set_env(app_row.name, {name: value})
                    assert denied.value.http_status == 400 and "tidak pernah dipindai" in str(denied.value)
                assert agent.env(app_row.name) == before
            running = docker_client.containers.list(filters={"label": f"org.wadah.app={app_row.name}"})
            assert running and not [v for c in running for v in c.attrs["Config"]["Env"]
                                    if v.split("=", 1)[0] in LOADERS]
        finally:
            flow.clean_up(agents, host, subdomain, zone)
