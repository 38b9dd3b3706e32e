"""Gunicorn serving the panel, started in-process so `wadah web` stays one recognisable process."""
from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication


class PanelServer(BaseApplication):  # type: ignore[misc]
    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from panel import create_app

        return create_app()


def serve(bind: str, workers: int) -> None:
    """Run gunicorn with `workers` processes on `bind` until stopped."""
    from panel import config as configuration

    # A bad instance file stops the command here, named once, not in every worker gunicorn boots.
    configuration.load(configuration.state_dir() / "panel")
    PanelServer({"bind": bind, "workers": workers, "accesslog": "-", "timeout": 60}).run()
