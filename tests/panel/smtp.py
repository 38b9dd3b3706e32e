"""A real SMTP server on 127.0.0.1 for tests: aiosmtpd in a thread, keeping what it receives."""
from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    message: EmailMessage


class Inbox:
    """The aiosmtpd handler: keeps every accepted message, in order."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.messages: list[Received] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        raw = envelope.original_content or envelope.content
        message = message_from_bytes(raw, policy=policy.default)
        self.messages.append(Received(envelope.mail_from, tuple(envelope.rcpt_tos), raw, message))  # type: ignore[arg-type]
        return "250 Message accepted for delivery"

    def clear(self) -> None:
        """Forget what was received so far (mail sent while setting a test up)."""
        self.messages.clear()

    def recipients(self) -> list[str]:
        """Return the envelope recipient of every message, in order of arrival."""
        return [address for received in self.messages for address in received.rcpt_tos]


def unused_port() -> int:
    """Return a loopback TCP port nothing listens on (to play an SMTP server that is down)."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


@contextmanager
def smtp_server(credentials: tuple[str, str] | None = None) -> Iterator[Inbox]:
    """Run an SMTP server on 127.0.0.1 for the block, requiring AUTH when `credentials` are given."""
    inbox = Inbox(HOST, unused_port())
    options: dict[str, Any] = {}
    if credentials:
        options = {"authenticator": _authenticator(credentials), "auth_required": True,
                   "auth_require_tls": False}
    controller = Controller(inbox, hostname=HOST, port=inbox.port, **options)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()


def _authenticator(credentials: tuple[str, str]) -> Any:
    expected = LoginPassword(credentials[0].encode(), credentials[1].encode())

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        return AuthResult(success=data == expected, handled=False)

    return authenticate
