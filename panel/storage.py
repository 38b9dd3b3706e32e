"""The panel's content-addressed stores, located by configuration."""
from __future__ import annotations

from flask import current_app

from agents.protocol.artifacts import ArtifactStore
from panel import gateway


def artifacts() -> ArtifactStore:
    """Return the store of app bundles (outside any web root), the one the agent gateway sends from."""
    return gateway.agents().artifacts


def attachments() -> ArtifactStore:
    """Return the store of request letters and generated documents."""
    return ArtifactStore(current_app.config["ATTACHMENT_DIR"])
