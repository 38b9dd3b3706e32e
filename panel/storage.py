"""The panel's content-addressed stores, located by configuration."""
from __future__ import annotations

from flask import current_app

from agents.artifacts import ArtifactStore


def artifacts() -> ArtifactStore:
    """Return the store of app bundles (outside any web root)."""
    return ArtifactStore(current_app.config["ARTIFACT_DIR"])


def attachments() -> ArtifactStore:
    """Return the store of request letters and generated documents."""
    return ArtifactStore(current_app.config["ATTACHMENT_DIR"])
