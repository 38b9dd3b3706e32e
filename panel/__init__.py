"""Wadah's control panel: `create_app` is the only place a Flask app is made."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PACKAGE_DIR = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """Return the folder `name` (templates, migrations) inside the installed package, else the checkout's."""
    packaged = PACKAGE_DIR / name  # put there by setup.py when the wheel is built
    return packaged if packaged.is_dir() else PROJECT_ROOT / name


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the panel app: configuration, extensions, security, blueprints."""
    # Imported here so `wadah scan` and other commands without the app start without Flask.
    from flask import Flask

    from panel import config as configuration

    instance_path = Path(
        (config or {}).get("INSTANCE_PATH") or configuration.state_dir() / "panel"
    )
    app = Flask(
        __name__,
        instance_path=str(instance_path),
        template_folder=str(data_dir("templates")),
        static_folder=str(data_dir("templates") / "static"),
    )
    app.config.update(configuration.load(instance_path, config))
    if not app.config.get("SECRET_KEY"):
        raise RuntimeError(
            "SECRET_KEY belum diatur: jalankan `wadah up` atau isi "
            f"{configuration.instance_file(instance_path)}"
        )

    from panel import extensions, formatting, gateway, i18n, jobs, permissions, private_files, security, tasks
    from panel.blueprints import admin, api, apps, audit, auth, hosting_requests, main, reports, webpanel

    private_files.init_app(app)
    extensions.db.init_app(app)
    extensions.csrf.init_app(app)
    extensions.limiter.init_app(app)
    security.init_app(app)
    i18n.init_app(app)
    gateway.init_app(app)
    formatting.init_app(app)
    jobs.init_app(app)
    tasks.init_app(app)
    permissions.enforce(app)
    auth.init_app(app)
    api.init_app(app)
    app.register_blueprint(auth.bp)
    app.register_blueprint(main.bp)
    app.register_blueprint(hosting_requests.bp)
    app.register_blueprint(apps.bp)
    app.register_blueprint(webpanel.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(audit.bp)
    app.register_blueprint(reports.bp)
    app.register_blueprint(api.bp)
    return app
