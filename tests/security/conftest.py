"""The attacks run through the real panel: its app, database and client, as in tests/panel."""
from __future__ import annotations

from tests.panel.conftest import app, cheap_password_hashing, client, migrated_db  # noqa: F401
