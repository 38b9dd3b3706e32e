from __future__ import annotations

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from panel import crypto
from panel.extensions import db
from panel.models import Zone

SECRET = "c2VjcmV0LXRzaWcta2V5LWZvci10ZXN0cw=="


def _zone() -> Zone:
    zone = Zone(name="contoh.go.id", primary_server="127.0.0.1:15353", tsig_key_name="wadah-update",
                tsig_secret=SECRET, record_ip="127.0.0.1")
    db.session.add(zone)
    db.session.commit()
    return zone


def test_secret_columns_are_encrypted_at_rest(app) -> None:
    zone = _zone()
    raw = db.session.execute(sa.text("SELECT tsig_secret FROM zones")).scalar_one()
    assert SECRET not in raw
    db.session.expire_all()
    assert db.session.get(Zone, zone.id).tsig_secret == SECRET


def test_old_key_still_reads_after_rotation(app) -> None:
    zone = _zone()
    app.config["SECRETS_KEY"] = [Fernet.generate_key().decode(), app.config["SECRETS_KEY"]]
    db.session.expire_all()
    assert db.session.get(Zone, zone.id).tsig_secret == SECRET


def test_wrong_key_is_a_clear_error(app) -> None:
    zone = _zone()
    app.config["SECRETS_KEY"] = Fernet.generate_key().decode()
    db.session.expire_all()
    with pytest.raises(crypto.SecretUnreadable):
        db.session.get(Zone, zone.id).tsig_secret  # noqa: B018
