"""What runs is what was scanned: a Dockerfile that writes a webshell during its build.

The bundle holds no webshell; its Dockerfile makes one in the image. The plain form decodes it:

    FROM wadah/php:8.2
    USER root
    COPY . /srv/app/
    RUN echo <base64 of a PHP webshell> | base64 -d > /srv/app/s.php

which the scanner's Dockerfile rules block at once. The structural tests use a form no rule reads as
code (two harmless halves joined by `cat`): the bundle scans `review` (root as the final user) and the
technician accepts it, so only the scan of the build's own files stands between it and the web.

Each attack goes through the panel's real deploy path to a real agent on the testbed, and the tests
assert the refusal (the build's own files are scanned and named), and that nothing of it runs or is
served.
"""
from __future__ import annotations

import base64
import hashlib
import io
import re
import secrets
import socket
from pathlib import Path
from typing import Any
from urllib.parse import quote

import docker
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from agents.protocol import AppSpec
from panel import gateway
from panel.extensions import db
from panel.models import (
    App,
    AppStatus,
    AppUpload,
    HostingRequest,
    JobStatus,
    ReleaseStatus,
    RoleKey,
    ScanKind,
    UploadStatus,
    Verdict,
)
from panel.services.infra import hosts
from panel.services.infra.agent_client import AgentClient, AgentRefused
from panel.services.infra.ca import PanelCA
from panel.services.releases import scanning
from tests.panel import factories, flow
from tests.panel.agent import running_agent
from tests.panel.conftest import csrf_token
from tests.support import fetch, tar_gz

pytestmark = pytest.mark.slow

WEBSHELL = '<?php eval($_GET["c"]);\n'
DECODED = ("FROM wadah/php:8.2\nUSER root\nCOPY . /srv/app/\n"
           f"RUN echo {base64.b64encode(WEBSHELL.encode()).decode()} | base64 -d > /srv/app/s.php\n")
ATTACK = ("FROM wadah/php:8.2\nUSER root\nCOPY . /srv/app/\n"
          "RUN cat /srv/app/bagian/a /srv/app/bagian/b > /srv/app/s.php\n")
HALVES = {"bagian/a": WEBSHELL[:8], "bagian/b": WEBSHELL[8:]}
BENIGN = "FROM wadah/php:8.2\nCOPY . /srv/app/\n"
# What an attacker sends the webshell: PHP that prints a marker only evaluated code can print.
PROBE = "/s.php?c=" + quote("echo 'dievaluasi-'.(6*7);")
EVALUATED = "dievaluasi-42"
REVIEW_REASON = "Dockerfile hanya menyalin bundel ke /srv/app; sudah diperiksa teknisi."


def bundle(dockerfile: str, marker: str) -> bytes:
    return tar_gz({"Dockerfile": dockerfile, "index.php": f"<?php echo '{marker}';\n", **HALVES})


def of_app(docker_client: docker.DockerClient, name: str) -> tuple[list[Any], list[str]]:
    """Return the app's containers (any state) and the ids of its images on the testbed's Docker."""
    label = {"label": f"org.wadah.app={name}"}
    return (docker_client.containers.list(all=True, filters=label),
            sorted(str(i.id) for i in docker_client.images.list(filters=label)))


def scan_bundle(technician: FlaskClient, filed: HostingRequest) -> None:
    """Scan the request's bundle as the technician; accept a `review` as a technician would."""
    path = f"/requests/{filed.id}"
    flow.post(technician, f"{path}/scan")
    db.session.expire_all()
    report = scanning.latest_report(filed.artifact_sha256)
    assert report is not None and report.verdict in (Verdict.CLEAN, Verdict.REVIEW), report.report
    assert not [f for f in report.report["findings"] if f["path"].endswith("s.php")]
    if report.verdict == Verdict.REVIEW:
        flow.post(technician, f"{path}/accept-review", reason=REVIEW_REASON)


def build_report_page(client: FlaskClient, app_row: App, release_id: int) -> str:
    releases = client.get(f"/apps/{app_row.id}/releases").get_data(as_text=True)
    link = f"/apps/{app_row.id}/releases/{release_id}/build-report"
    assert link in releases
    response = client.get(link)
    assert response.status_code == 200 and response.mimetype == "text/html"
    return response.get_data(as_text=True)


def test_the_plain_decoding_dockerfile_is_blocked_at_the_bundle_scan(
    app: Flask, testbed: dict[str, dict[str, Any]],
) -> None:
    """The attack exactly as it was first made: its bundle scan is `infected`, so nothing builds."""
    filed = flow.approved_request(subdomain=f"serang{secrets.token_hex(3)}", stack="dockerfile")
    technician = flow.signed_in(app, factories.user([RoleKey.TECHNICIAN]))
    db.session.commit()
    path = f"/requests/{filed.id}"
    technician.post(f"{path}/bundle", content_type="multipart/form-data", data={
        "csrf_token": csrf_token(technician, path),
        "bundle": (io.BytesIO(bundle(DECODED, "halo")), "aplikasi.tar.gz")})
    flow.post(technician, f"{path}/scan")
    db.session.expire_all()
    report = scanning.latest_report(filed.artifact_sha256)
    assert report is not None and report.verdict == Verdict.INFECTED
    assert {(f["path"], f["rule"]) for f in report.report["findings"]
            if f["severity"] == "critical"} == {("Dockerfile", "dockerfile_decoded_payload")}
    flow.post(technician, f"{path}/deploy")
    assert db.session.scalar(select(App).where(App.request_id == filed.id)) is None


def test_a_webshell_the_dockerfile_writes_is_scanned_and_never_served(
    app: Flask, testbed: dict[str, dict[str, Any]], dns_zone: dict[str, Any], runtime_images: Any,
    docker_client: docker.DockerClient, tmp_path: Path,
) -> None:
    zone, agents = flow.on_testbed(app, testbed, dns_zone)
    technician_user = factories.user([RoleKey.TECHNICIAN])
    db.session.commit()
    subdomain = f"serang{secrets.token_hex(3)}"
    nginx = testbed["nginx"]["http"]

    with running_agent(agents, "host-serang", testbed, tmp_path) as host:
        hosts.refresh_facts(agents, host)
        filed = flow.approved_request(subdomain=subdomain, stack="dockerfile")
        technician = flow.signed_in(app, technician_user)
        path = f"/requests/{filed.id}"
        try:
            technician.post(f"{path}/bundle", content_type="multipart/form-data", data={
                "csrf_token": csrf_token(technician, path),
                "bundle": (io.BytesIO(bundle(ATTACK, "halo")), "aplikasi.tar.gz")})
            scan_bundle(technician, filed)
            flow.post(technician, f"{path}/allocate")
            flow.post(technician, f"{path}/deploy")

            # The deploy is refused, naming the file the build wrote and the rules it broke.
            job = flow.newest_job("deploy")
            assert job.status == JobStatus.FAILED
            assert "srv/app/s.php" in job.error and "php_eval_request" in job.error
            app_row = db.session.scalar(select(App).where(App.request_id == filed.id))
            release = app_row.releases[-1]
            assert release.status == ReleaseStatus.FAILED and app_row.status == AppStatus.FAILED
            built = release.build_scan_report
            assert built.kind == ScanKind.BUILD and built.verdict == Verdict.INFECTED
            assert {f["path"] for f in built.report["findings"]} == {"srv/app/s.php"}
            assert built.report["build"]["image_id"] == release.image_id
            assert release.image_id and re.fullmatch(r"sha256:[0-9a-f]{64}", release.image_id)
            # The report is kept with the request, and readable from the app's releases.
            attached = [a for a in filed.attachments if a.filename.startswith("laporan-pemindaian-build-")]
            assert len(attached) == 1
            shown = technician.get(f"{path}/attachments/{attached[0].id}")
            assert shown.status_code == 200 and "s.php" in shown.get_data(as_text=True)
            assert "s.php" in build_report_page(technician, app_row, release.id)

            # Nothing of it was served or runs, and its image is gone from the host.
            status, body = fetch(nginx, app_row.fqdn, PROBE)
            assert status == 404 and EVALUATED not in body
            assert of_app(docker_client, app_row.name) == ([], [])
            with agents.client(host) as agent:
                with pytest.raises(AgentRefused) as unknown:
                    agent.status(app_row.name)
            assert unknown.value.http_status == 404
        finally:
            flow.clean_up(agents, host, subdomain, zone)


def test_a_new_version_whose_build_writes_a_webshell_leaves_the_old_release_serving(
    app: Flask, testbed: dict[str, dict[str, Any]], dns_zone: dict[str, Any], runtime_images: Any,
    docker_client: docker.DockerClient, tmp_path: Path,
) -> None:
    zone, agents = flow.on_testbed(app, testbed, dns_zone)
    technician_user = factories.user([RoleKey.TECHNICIAN])
    db.session.commit()
    subdomain = f"lama{secrets.token_hex(3)}"
    nginx = testbed["nginx"]["http"]

    with running_agent(agents, "host-lama", testbed, tmp_path) as host:
        hosts.refresh_facts(agents, host)
        filed = flow.approved_request(subdomain=subdomain, stack="dockerfile")
        technician = flow.signed_in(app, technician_user)
        try:
            # A Dockerfile that only copies its bundle: built, its files scanned clean, served.
            flow.deploy_and_hand_over(technician, filed, bundle(BENIGN, f"Versi satu {subdomain}"))
            app_row = db.session.scalar(select(App).where(App.request_id == filed.id))
            first = app_row.live_release
            assert fetch(nginx, app_row.fqdn) == (200, f"Versi satu {subdomain}")
            assert first.build_scan_report.verdict == Verdict.CLEAN
            # Dockerfile, index.php and the two halves: copied as they were scanned.
            assert first.build_scan_report.report["build"]["output"]["unchanged"] == 4
            containers, images = of_app(docker_client, app_row.name)
            assert [c.attrs["Image"] for c in containers] == [first.image_id] == images
            build_report_page(technician, app_row, first.id)

            # The attack, as a new version through the app's Web Panel.
            base = f"/apps/{app_row.id}"
            uploaded = technician.post(f"{base}/uploads", content_type="multipart/form-data", data={
                "csrf_token": csrf_token(technician, f"{base}/uploads"),
                "bundle": (io.BytesIO(bundle(ATTACK, f"Versi dua {subdomain}")), "v2.tar.gz")})
            assert uploaded.status_code == 302, uploaded.get_data(as_text=True)
            db.session.expire_all()
            upload = db.session.scalar(select(AppUpload).where(AppUpload.app_id == app_row.id))
            if upload.status == UploadStatus.REVIEW:
                flow.post(technician, f"/apps/reviews/{upload.id}/accept", reason=REVIEW_REASON)
                db.session.expire_all()

            assert upload.status == UploadStatus.FAILED
            assert "srv/app/s.php" in upload.reason and "php_eval_request" in upload.reason
            second = upload.release
            assert second.status == ReleaseStatus.FAILED
            assert second.build_scan_report.verdict == Verdict.INFECTED
            assert "s.php" in build_report_page(technician, app_row, second.id)
            # The old release keeps serving; the webshell evaluates nothing anywhere.
            assert app_row.live_release.id == first.id and app_row.status == AppStatus.RUNNING
            assert fetch(nginx, app_row.fqdn) == (200, f"Versi satu {subdomain}")
            status, body = fetch(nginx, app_row.fqdn, PROBE)
            assert status == 404 and EVALUATED not in body
            containers, images = of_app(docker_client, app_row.name)
            assert [(c.attrs["Image"], c.labels["org.wadah.release"]) for c in containers] == [
                (first.image_id, str(first.id))]
            assert images == [first.image_id]  # the refused build's image is gone
        finally:
            flow.clean_up(agents, host, subdomain, zone)


def _stored(agent: AgentClient, files: dict[str, str]) -> str:
    data = tar_gz(files)
    sha256 = hashlib.sha256(data).hexdigest()
    agent.upload_artifact(io.BytesIO(data), sha256)
    return sha256


def test_the_agent_runs_no_dockerfile_image_the_panel_did_not_sign(
    app: Flask, testbed: dict[str, dict[str, Any]], runtime_images: Any,
    docker_client: docker.DockerClient, tmp_path: Path,
) -> None:
    agents = gateway.agents(app)
    stranger = PanelCA.create(tmp_path / "stranger")
    name = f"tanpa-ttd-{secrets.token_hex(3)}"
    fqdn = f"{name}.contoh.go.id"
    nginx = testbed["nginx"]["http"]

    with running_agent(agents, "host-ttd", testbed, tmp_path) as host, agents.client(host) as agent:
        sha256 = _stored(agent, {"Dockerfile": ATTACK, "index.php": "<?php echo 'halo';\n", **HALVES})
        spec = AppSpec(name=name, fqdn=fqdn, stack="dockerfile", release_id=7,
                       artifact_sha256=sha256)

        def v2(image_id: str, ca: PanelCA = agents.ca) -> str:
            return ca.sign_release(name, 7, sha256, "clean", image_id)

        try:
            v1 = agents.ca.sign_release(name, 7, sha256, "clean")
            never_built = "sha256:" + "0" * 64
            with pytest.raises(AgentRefused) as missing:  # a deploy without a prior build
                agent.deploy(spec, "clean", v2(never_built), image_id=never_built)
            assert (missing.value.http_status, missing.value.code) == (403, "unsigned_image")

            image_id = agent.build(spec, "clean", v1)["image_id"]

            attempts = [
                ((v1, None), "image_signature_required"),  # the bundle's v1 statement alone
                ((v1, image_id), "bad_release_signature"),  # v1 offered for an image
                ((v2(image_id, stranger), image_id), "bad_release_signature"),  # forged
                ((v2(never_built), image_id), "bad_release_signature"),  # signed for another
            ]
            for (signature, offered), code in attempts:
                with pytest.raises(AgentRefused) as refused:
                    agent.deploy(spec, "clean", signature, image_id=offered)
                assert (refused.value.http_status, refused.value.code) == (403, code)
            # Nothing ran and nothing is served; the build waits, unused.
            containers, images = of_app(docker_client, name)
            assert containers == [] and images == [image_id]
            status, body = fetch(nginx, fqdn, PROBE)
            assert status == 404 and EVALUATED not in body
            with pytest.raises(AgentRefused) as unknown:
                agent.status(name)
            assert unknown.value.http_status == 404
        finally:
            agent.discard_build(name, 7)
        assert of_app(docker_client, name) == ([], [])


@pytest.mark.parametrize("listening", [False, True])
def test_a_dockerfile_that_fetches_a_url_is_refused_before_anything_is_built(
    app: Flask, testbed: dict[str, dict[str, Any]], runtime_images: Any,
    docker_client: docker.DockerClient, tmp_path: Path, listening: bool,
) -> None:
    agents = gateway.agents(app)
    name = f"unduh-{secrets.token_hex(3)}"
    with socket.socket() as server, running_agent(agents, "host-unduh", testbed, tmp_path) as host, \
            agents.client(host) as agent:
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.setblocking(False)
        url = f"http://127.0.0.1:{server.getsockname()[1]}/x" if listening else "http://127.0.0.1:1/x"
        sha256 = _stored(agent, {"Dockerfile": f"FROM wadah/php:8.2\nADD {url} /srv/app/x.php\n",
                                 "index.php": "<?php echo 'halo';\n"})
        spec = AppSpec(name=name, fqdn=f"{name}.contoh.go.id", stack="dockerfile", release_id=3,
                       artifact_sha256=sha256)
        with pytest.raises(AgentRefused) as refused:
            agent.build(spec, "clean", agents.ca.sign_release(name, 3, sha256, "clean"))
        assert (refused.value.http_status, refused.value.code) == (422, "build_failed")
        assert "URL" in refused.value.message and url in refused.value.message
        assert of_app(docker_client, name) == ([], [])
        with pytest.raises(BlockingIOError):
            server.accept()  # nobody came to fetch it
