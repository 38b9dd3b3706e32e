"""The errors the agent's host operations raise; the API maps each class to one HTTP status.

Messages are Indonesian (they reach the panel's users); none carries a secret.
"""
from __future__ import annotations

import re


class HostOperationError(Exception):
    """Base of every error a host operation raises on purpose."""

    # The HTTP status the API answers with; the API may use it or map classes itself.
    status = 500
    # The API's error code, which the panel matches on: fixed, so a class's name may change.
    code = "agent_error"

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "code" not in cls.__dict__:
            # UnknownApp → unknown_app: the panel matches on codes, people read the message.
            cls.code = re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).lower()


class InvalidRequest(HostOperationError):
    """A name, path or value in the request breaks the grammar or the agent's rules (400)."""

    status = 400


class UnknownApp(HostOperationError):
    """No app of that name is kept on this host (404)."""

    status = 404


class UnknownArtifact(HostOperationError):
    """The artifact named by its sha256 is not in the agent's store (404)."""

    status = 404


class UnknownRelease(HostOperationError):
    """There is no release to go to (no previous release for a rollback) (404)."""

    status = 404


class UnknownBuild(HostOperationError):
    """No build of that release of that app is kept on this host (404)."""

    status = 404


class UnsignedImage(HostOperationError):
    """The image a Dockerfile app would run is not the one the panel signed, or is missing (403)."""

    status = 403


class AppBusy(HostOperationError):
    """Another operation on the same app is in progress; nothing was changed (409)."""

    status = 409


class ArtifactRejected(HostOperationError):
    """The artifact could not be unpacked safely or lacks what its stack needs (422)."""

    status = 422


class DeployAborted(HostOperationError):
    """A new release did not become healthy; the previous one keeps serving (422).

    `logs` holds the last lines the failed container wrote, for the panel to show.
    """

    status = 422
    code = "deploy_failed"

    def __init__(self, message: str, logs: str = "") -> None:
        super().__init__(message)
        self.logs = logs


class BuildFailed(DeployAborted):
    """An app's own Dockerfile did not build (or names a base image that is not allowed) (422)."""


class VhostError(HostOperationError):
    """nginx refused a configuration or a reload; the previous files were put back (502).

    `output` holds what nginx printed.
    """

    status = 502

    def __init__(self, message: str, output: str = "") -> None:
        super().__init__(message)
        self.output = output


class DatabaseError(HostOperationError):
    """MariaDB refused an operation or could not be reached (502)."""

    status = 502


class StorageError(HostOperationError):
    """An app's data volume could not be made, mounted, resized or removed (507).

    `output` holds what the failing tool printed.
    """

    status = 507

    def __init__(self, message: str, output: str = "") -> None:
        super().__init__(message)
        self.output = output


class RuntimeUnavailable(HostOperationError):
    """Docker Engine could not be reached or refused an operation (503)."""

    status = 503


class FirewallError(HostOperationError):
    """iptables could not be run or refused the app network's rules (503)."""

    status = 503
