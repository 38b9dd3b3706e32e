"""The app's one `AgentGateway`: made in `create_app`, found through the app by pages, jobs and commands."""
from __future__ import annotations

from flask import Flask, current_app

from panel.services.infra.gateway import AgentGateway

EXTENSION = "wadah.agents"


def init_app(app: Flask) -> None:
    """Bind the panel's door to its agents to `app` (nothing is read or made until it is used)."""
    app.extensions[EXTENSION] = AgentGateway.for_instance(app.instance_path, app.config["ARTIFACT_DIR"])


def agents(app: Flask | None = None) -> AgentGateway:
    """Return the gateway of `app`, or of the current app."""
    gateway: AgentGateway = (app or current_app).extensions[EXTENSION]
    return gateway
