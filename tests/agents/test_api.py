"""The agent API's artifacts, builds and deploys: nothing unscanned, nothing unsigned, nothing unknown.

Every refusal must leave the host untouched (the recording host saw no call) and the artifact store
as it was.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path
from urllib.parse import quote

import pytest

from agents import protocol
from agents.errors import DeployAborted, UnknownApp
from panel.services.infra.agent_client import AgentRefused
from tests.agents.support import BUILT_IMAGE, Agent, error_of, refused, start_agent, stop_agent

BUNDLE = b"PK\x03\x04 pretend this is a zip of index.html" * 100
SHA = hashlib.sha256(BUNDLE).hexdigest()


def spec(name: str = "portal", release_id: int = 3, sha256: str = SHA,
         stack: str = "static") -> protocol.AppSpec:
    return protocol.AppSpec(name=name, fqdn=f"{name}.contoh.go.id", stack=stack,
                            release_id=release_id, artifact_sha256=sha256)


def signed(agent: Agent, app: protocol.AppSpec, verdict: str = "clean",
           image_id: str | None = None) -> str:
    return agent.ca.sign_release(app.name, app.release_id, app.artifact_sha256, verdict, image_id)


def deploy_body(app: protocol.AppSpec, verdict: str, signature: str) -> bytes:
    return json.dumps({"spec": app.to_dict(), "verdict": verdict, "signature": signature}).encode()


# --- artifacts -----------------------------------------------------------------------------------


def test_an_artifact_is_streamed_into_the_store(agent: Agent) -> None:
    with agent.client() as client:
        assert not client.has_artifact(SHA)
        assert client.upload_artifact(io.BytesIO(BUNDLE), SHA) == {"sha256": SHA,
                                                                     "size": len(BUNDLE)}
        assert client.has_artifact(SHA)
        client.ensure_artifact("/nonexistent: not read because the agent has it", SHA)
    assert agent.store.path(SHA).read_bytes() == BUNDLE


def test_an_artifact_with_other_bytes_than_announced_is_refused(agent: Agent) -> None:
    with agent.client() as client:
        with pytest.raises(AgentRefused) as excinfo:
            client.upload_artifact(io.BytesIO(BUNDLE + b"<?php system($_GET['c']); ?>"), SHA)
    assert refused(excinfo) == (400, "checksum_mismatch")
    assert agent.store_files() == []


def test_an_artifact_whose_path_and_signed_digest_differ_is_refused(agent: Agent) -> None:
    other = hashlib.sha256(b"other").hexdigest()
    response = agent.send("PUT", f"/v1/artifacts/{other}", BUNDLE,
                          content_type="application/octet-stream")
    assert error_of(response) == (400, "checksum_mismatch")
    assert agent.store_files() == []


def test_an_oversized_artifact_is_refused(tmp_path: Path) -> None:
    small = start_agent(tmp_path, max_artifact_bytes=1024)
    try:
        with small.client() as client:
            with pytest.raises(AgentRefused) as excinfo:
                client.upload_artifact(io.BytesIO(BUNDLE), SHA)
        assert refused(excinfo) == (413, "too_large")
        assert small.store_files() == []
    finally:
        stop_agent(small)


@pytest.mark.parametrize("name", ["ABC", "../../etc/passwd", "0" * 63])
def test_artifact_names_are_sha256_only(agent: Agent, name: str) -> None:
    response = agent.send("GET", f"/v1/artifacts/{quote(name, safe='')}")
    assert response.status_code in (400, 404)
    assert agent.store_files() == []


# --- deploy --------------------------------------------------------------------------------------


@pytest.fixture
def uploaded(agent: Agent) -> Agent:
    with agent.client() as client:
        client.upload_artifact(io.BytesIO(BUNDLE), SHA)
    return agent


@pytest.mark.parametrize("verdict", protocol.DEPLOYABLE_VERDICTS)
def test_a_signed_clean_release_is_deployed(uploaded: Agent, verdict: str) -> None:
    app = spec()
    with uploaded.client() as client:
        assert client.deploy(app, verdict, signed(uploaded, app, verdict)) == {
            "app": "portal", "release_id": 3}
    assert uploaded.host.calls == [("deploy", app)]


def test_a_bad_release_signature_is_refused(uploaded: Agent) -> None:
    app = spec()
    forged = signed(uploaded, spec(release_id=2))  # a real signature, of another release
    for signature in (forged, "AAAA", "not base64!", ""):
        with uploaded.client() as client:
            with pytest.raises(AgentRefused) as excinfo:
                client.deploy(app, "clean", signature)
        assert refused(excinfo) == (403, "bad_release_signature")
    assert uploaded.host.calls == []


def test_a_signature_of_another_app_is_refused(uploaded: Agent) -> None:
    with uploaded.client() as client:
        with pytest.raises(AgentRefused) as excinfo:
            client.deploy(spec(), "clean", signed(uploaded, spec(name="other")))
    assert refused(excinfo) == (403, "bad_release_signature")
    assert uploaded.host.calls == []


def test_a_signature_by_another_key_is_refused(uploaded: Agent, tmp_path: Path) -> None:
    from panel.services.infra.ca import PanelCA

    stranger = PanelCA.create(tmp_path / "stranger")
    app = spec()
    with uploaded.client() as client:
        with pytest.raises(AgentRefused) as excinfo:
            client.deploy(app, "clean", stranger.sign_release(app.name, 3, SHA, "clean"))
    assert refused(excinfo) == (403, "bad_release_signature")
    assert uploaded.host.calls == []


@pytest.mark.parametrize("verdict", ["infected", "review", "rejected", "error", "CLEAN", ""])
def test_a_release_whose_verdict_is_not_deployable_is_refused(uploaded: Agent,
                                                               verdict: str) -> None:
    app = spec()
    # Signed with the real key: even a panel bug that signs such a verdict cannot get it deployed.
    signature = protocol.sign_release(uploaded.ca.release_key, app.name, app.release_id,
                                      app.artifact_sha256, verdict)
    with uploaded.client() as client:
        with pytest.raises(AgentRefused) as excinfo:
            client.deploy(app, verdict, signature)
    assert refused(excinfo) == (403, "verdict_refused")
    assert uploaded.host.calls == []


def test_the_panel_ca_will_not_sign_an_undeployable_verdict(agent: Agent) -> None:
    with pytest.raises(ValueError):
        agent.ca.sign_release("portal", 3, SHA, "infected")


def test_a_deploy_of_an_unknown_artifact_is_refused(agent: Agent) -> None:
    app = spec()
    with agent.client() as client:
        with pytest.raises(AgentRefused) as excinfo:
            client.deploy(app, "clean", signed(agent, app))
    assert refused(excinfo) == (404, "unknown_artifact")
    assert agent.host.calls == []


def test_a_stored_artifact_that_changed_on_disk_is_refused(uploaded: Agent) -> None:
    path = uploaded.store.path(SHA)
    os.chmod(path, 0o600)
    path.write_bytes(BUNDLE.replace(b"index.html", b"shell.php!"))
    app = spec()
    with uploaded.client() as client:
        with pytest.raises(AgentRefused) as excinfo:
            client.deploy(app, "clean", signed(uploaded, app))
    assert refused(excinfo) == (409, "checksum_mismatch")
    assert uploaded.host.calls == []


def test_the_app_in_the_path_must_be_the_app_in_the_spec(uploaded: Agent) -> None:
    app = spec(name="other")
    response = uploaded.send("POST", "/v1/apps/portal/deploy",
                             deploy_body(app, "clean", signed(uploaded, app)))
    assert error_of(response) == (400, "name_mismatch")
    assert uploaded.host.calls == []


@pytest.mark.parametrize(("change", "code"), [
    ({"release_id": "3"}, "malformed_request"),
    ({"release_id": True}, "malformed_request"),
    ({"artifact_sha256": "../../etc/passwd"}, "malformed_request"),
    ({"fqdn": "portal.contoh.go.id; include /etc/passwd"}, "invalid_name"),
    ({"stack": "perl"}, "invalid_name"),
    ({"env": {"PATH": 5}}, "malformed_request"),
    ({"limits": {"memory_mb": "lots"}}, "malformed_request"),
    ({"limits": {"memory_mb": 256, "privileged": True}}, "malformed_request"),
    ({"docker_socket": "/var/run/docker.sock"}, "malformed_request"),
])
def test_a_malformed_spec_is_refused(uploaded: Agent, change: dict[str, object],
                                     code: str) -> None:
    body = json.loads(deploy_body(spec(), "clean", signed(uploaded, spec())))
    body["spec"].update(change)
    response = uploaded.send("POST", "/v1/apps/portal/deploy", json.dumps(body).encode())
    assert error_of(response) == (400, code)
    assert uploaded.host.calls == []


def test_a_failed_deploy_reports_the_container_logs(uploaded: Agent) -> None:
    uploaded.host.fail = DeployAborted("rilis 3 tidak sehat", logs="PHP Fatal error")
    app = spec()
    with uploaded.client() as client:
        with pytest.raises(AgentRefused) as excinfo:
            client.deploy(app, "clean", signed(uploaded, app))
    assert refused(excinfo) == (422, "deploy_failed")
    assert excinfo.value.details == {"logs": "PHP Fatal error"}


def test_host_errors_map_to_their_status(agent: Agent) -> None:
    agent.host.fail = UnknownApp("aplikasi portal tidak ada")
    with agent.client() as client:
        with pytest.raises(AgentRefused) as excinfo:
            client.stop("portal")
    assert refused(excinfo) == (404, "unknown_app")


@pytest.mark.parametrize("body", [b'{"storage_mb": "2048"}', b'{"storage_mb": true}',
                                  b'{"storage_mb": 2.5}', b'{"storage_mb": 64, "size": 1}', b"{}"])
def test_a_storage_limit_of_the_wrong_shape_is_refused(agent: Agent, body: bytes) -> None:
    assert error_of(agent.send("PUT", "/v1/apps/portal/storage", body)) == (
        400, "malformed_request")
    assert agent.host.calls == []


def test_a_storage_limit_reaches_the_host(agent: Agent) -> None:
    with agent.client() as client:
        assert client.set_storage("portal", 2048) == {"name": "portal", "storage_mb": 2048}
    assert agent.host.calls == [("set_storage", "portal", 2048)]


@pytest.mark.parametrize("query", ["tail=abc", "tail=0", "tail=99999999", "since=-1", "tail=1e3"])
def test_log_parameters_are_checked(agent: Agent, query: str) -> None:
    assert error_of(agent.send("GET", f"/v1/apps/portal/logs?{query}")) == (
        400, "malformed_request")
    assert agent.host.calls == []


# --- Dockerfile apps: build, then deploy only the image signed ---------------------------------

OTHER_IMAGE = "sha256:" + "cd" * 32


def test_a_signed_bundle_is_built(uploaded: Agent) -> None:
    app = spec(stack="dockerfile")
    with uploaded.client() as client:
        assert client.build(app, "clean", signed(uploaded, app))["image_id"] == BUILT_IMAGE
    assert uploaded.host.calls == [("build", app)]


def test_a_build_needs_the_bundles_signature_and_a_dockerfile(uploaded: Agent) -> None:
    app = spec(stack="dockerfile")
    with uploaded.client() as client:
        with pytest.raises(AgentRefused) as excinfo:
            client.build(app, "clean", signed(uploaded, spec(stack="dockerfile", release_id=2)))
        assert refused(excinfo) == (403, "bad_release_signature")
        with pytest.raises(AgentRefused) as excinfo:
            client.build(app, "clean", signed(uploaded, app, image_id=OTHER_IMAGE))  # a v2 one
        assert refused(excinfo) == (403, "bad_release_signature")
        static = spec()
        with pytest.raises(AgentRefused) as excinfo:
            client.build(static, "clean", signed(uploaded, static))
        assert refused(excinfo) == (400, "not_buildable")
    assert uploaded.host.calls == []


def test_a_dockerfile_app_deploys_the_image_its_v2_signature_names(uploaded: Agent) -> None:
    app = spec(stack="dockerfile")
    with uploaded.client() as client:
        client.deploy(app, "clean", signed(uploaded, app, image_id=BUILT_IMAGE),
                      image_id=BUILT_IMAGE)
    assert uploaded.host.calls == [("deploy", app, BUILT_IMAGE)]


def test_a_dockerfile_app_without_a_signed_image_is_refused(uploaded: Agent) -> None:
    app = spec(stack="dockerfile")
    with uploaded.client() as client:
        # The bundle's own (v1) signature does not say what the build made.
        with pytest.raises(AgentRefused) as excinfo:
            client.deploy(app, "clean", signed(uploaded, app))
        assert refused(excinfo) == (403, "image_signature_required")
        with pytest.raises(AgentRefused) as excinfo:
            client.deploy(app, "clean", signed(uploaded, app), image_id=BUILT_IMAGE)
        assert refused(excinfo) == (403, "bad_release_signature")
        # Signed for one image, asked to run another.
        with pytest.raises(AgentRefused) as excinfo:
            client.deploy(app, "clean", signed(uploaded, app, image_id=OTHER_IMAGE),
                          image_id=BUILT_IMAGE)
        assert refused(excinfo) == (403, "bad_release_signature")
        # A v2 signature of another release of the same app, for the same image.
        other = spec(stack="dockerfile", release_id=2)
        with pytest.raises(AgentRefused) as excinfo:
            client.deploy(app, "clean", signed(uploaded, other, image_id=BUILT_IMAGE),
                          image_id=BUILT_IMAGE)
        assert refused(excinfo) == (403, "bad_release_signature")
    assert uploaded.host.calls == []


@pytest.mark.parametrize("image_id", ["sha256:" + "AB" * 32, "ab" * 32, "sha256:abc",
                                      "wadah/php:8.2", "sha256:" + "ab" * 32 + "\n"])
def test_an_image_id_outside_the_grammar_is_refused(uploaded: Agent, image_id: str) -> None:
    app = spec(stack="dockerfile")
    body = json.loads(deploy_body(app, "clean", signed(uploaded, app, image_id=BUILT_IMAGE)))
    body["image_id"] = image_id
    response = uploaded.send("POST", "/v1/apps/portal/deploy", json.dumps(body).encode())
    assert error_of(response) == (400, "malformed_request")
    assert uploaded.host.calls == []


def test_an_image_for_an_app_without_a_dockerfile_is_refused(uploaded: Agent) -> None:
    app = spec()
    with uploaded.client() as client:
        with pytest.raises(AgentRefused) as excinfo:
            client.deploy(app, "clean", signed(uploaded, app, image_id=BUILT_IMAGE),
                          image_id=BUILT_IMAGE)
    assert refused(excinfo) == (400, "malformed_request")
    assert uploaded.host.calls == []


def test_a_build_is_discarded_by_its_release(agent: Agent) -> None:
    with agent.client() as client:
        assert client.discard_build("portal", 3) == {"app": "portal", "release_id": 3}
    assert agent.host.calls == [("discard_build", "portal", 3)]
