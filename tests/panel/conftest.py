"""Fixtures for the panel: an app on migrated SQLite or PostgreSQL, a client, and signed-in users."""
from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pyotp
import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from cryptography.fernet import Fernet
from flask import Flask, g
from flask.testing import FlaskClient

from panel import create_app, database, gateway
from panel.extensions import db
from panel.models import RoleKey, User
from panel.models.base import utcnow
from panel.services.accounts import passwords, totp
from panel.services.infra.gateway import AgentGateway
from panel.services.requests import workflow
from tests.panel import factories


@pytest.fixture(autouse=True, scope="session")
def cheap_password_hashing() -> Iterator[None]:
    """Hash with minimal Argon2id cost in tests: hundreds of users are made, none is attacked."""
    production = passwords._hasher
    passwords._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    yield
    passwords._hasher = production


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a SQLite file migrated once to head; each test gets its own copy."""
    path = tmp_path_factory.mktemp("schema") / "wadah.db"
    database.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def app(tmp_path: Path, migrated_db: Path) -> Iterator[Flask]:
    db_file = tmp_path / "wadah.db"
    shutil.copy(migrated_db, db_file)
    app = create_app({
        "TESTING": True,
        "INSTANCE_PATH": str(tmp_path),
        "SECRET_KEY": "test-secret-key-not-for-production",
        "SECRETS_KEY": Fernet.generate_key().decode(),
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{db_file}",
        "ARTIFACT_DIR": str(tmp_path / "artifacts"),
        "ATTACHMENT_DIR": str(tmp_path / "attachments"),
        "JOBS_BACKEND": f"sqlite:///{tmp_path / 'jobs.db'}",
        "JOBS_IMMEDIATE": True,
        "SESSION_COOKIE_SECURE": False,
        "REMEMBER_COOKIE_SECURE": False,
        "RATELIMIT_ENABLED": False,
    })
    def _forget_per_request_caches() -> None:
        # The test's app context outlives each request, and Flask-Login, Flask-WTF and Flask-Babel
        # cache the user, the CSRF token and the locale on `g`: without this a second client
        # inherits the first's.
        # It runs before every other hook, so the access check never sees a stale user.
        g.pop("_login_user", None)
        g.pop("csrf_token", None)
        g.pop("_flask_babel", None)
        g.pop("_wadah_catalog", None)

    app.before_request_funcs.setdefault(None, []).insert(0, _forget_per_request_caches)

    with app.app_context():
        workflow.ensure_builtin_templates()  # what `wadah db upgrade` does after migrating
        db.session.commit()
        yield app
        db.session.remove()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def agents(app: Flask) -> AgentGateway:
    """The app's door to its agents, with the CA made as `wadah up` makes it on a new panel."""
    made = gateway.agents(app)
    made.create_ca()
    return made


def csrf_token(client: FlaskClient, path: str) -> str:
    """Return the CSRF token from the form on `path`."""
    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


@pytest.fixture
def login_as(client: FlaskClient) -> Callable[..., User]:
    """Create a user with the given role and sign the client in as them."""

    def sign_in(role: RoleKey, **fields: object) -> User:
        user = factories.user(roles=[role], **fields)
        second_factor = role in client.application.config["TOTP_REQUIRED_ROLES"]
        if second_factor:  # the role may not act without one: enrol it as the user would
            secret = totp.new_secret()
            earlier = utcnow() - timedelta(seconds=90)
            totp.enable(user, secret, pyotp.TOTP(secret).at(earlier), now=earlier)
        db.session.commit()
        response = client.post("/login", data={
            "username": user.username, "password": factories.PASSWORD,
            "csrf_token": csrf_token(client, "/login"),
        })
        assert response.status_code == 302, response.get_data(as_text=True)
        if second_factor:
            response = client.post("/login/totp", data={
                "code": pyotp.TOTP(secret).now(), "csrf_token": csrf_token(client, "/login/totp")})
            assert response.status_code == 302 and "/login" not in response.location, response.location
        return user

    return sign_in


@pytest.fixture
def postgres_app(postgres_url: str, tmp_path: Path) -> Iterator[None]:
    """Run the panel on a private schema of the testbed's PostgreSQL, dropped afterwards."""
    schema = f"sla_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(postgres_url)
    with engine.begin() as connection:
        connection.execute(sa.text(f"CREATE SCHEMA {schema}"))
    url = f"{postgres_url}{'&' if '?' in postgres_url else '?'}options=-csearch_path%3D{schema}"
    try:
        database.upgrade(url)
        app = create_app({
            "TESTING": True, "INSTANCE_PATH": str(tmp_path), "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": "test-secret-key-not-for-production", "SECRETS_KEY": Fernet.generate_key().decode(),
            "JOBS_BACKEND": f"sqlite:///{tmp_path / 'jobs.db'}", "JOBS_IMMEDIATE": True,
        })
        with app.app_context():
            yield
            db.session.remove()
            db.engine.dispose()
    finally:
        with engine.begin() as connection:
            connection.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()
