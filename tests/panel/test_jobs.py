from __future__ import annotations

from flask import current_app

from panel.jobs import task


@task()
def _which_pemda() -> str:
    return current_app.config["PEMDA_NAME"]


def test_task_runs_inside_the_app_context(app) -> None:
    # Immediate mode (tests) runs the task in-process; the worker runs the same wrapper.
    assert _which_pemda()() == app.config["PEMDA_NAME"]
