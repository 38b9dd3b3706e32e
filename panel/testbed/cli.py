"""`wadah testbed up|down|status`: the local services used by tests, benchmarks and `wadah up`."""
from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import click

from panel.testbed.errors import TestbedError
from panel.testbed.testbed import Testbed


def _services(value: str | None) -> list[str] | None:
    return [name.strip() for name in value.split(",") if name.strip()] if value else None


def _state(entry: dict[str, Any]) -> str:
    if entry["running"]:
        return "running"
    return "not answering" if entry["pid"] else "stopped"


def _table(
    result: dict[str, dict[str, Any]], heading: str, cell: Callable[[dict[str, Any]], str]
) -> str:
    rows = [("SERVICE", heading, "PID", "ADDRESS", "LOG")]
    rows += [(name, cell(entry), str(entry["pid"] or "-"), entry["address"], entry["log"])
             for name, entry in result.items()]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip()
                     for row in rows)


only_option = click.option(
    "--only", metavar="NAMES", help="Comma-separated services, e.g. docker,nginx."
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")


@click.group()
def testbed() -> None:
    """Start, stop and inspect the local Docker, nginx, clamd, BIND, MariaDB, PostgreSQL and Redis."""


@testbed.command()
@only_option
@json_option
def up(only: str | None, as_json: bool) -> None:
    """Start the services that are not running and wait until every one answers."""
    try:
        result = Testbed().up(_services(only))
    except TestbedError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    click.echo(_table(result, "ACTION",
                      lambda entry: "started" if entry["started"] else "already running"))
    started = [name for name, entry in result.items() if entry["started"]]
    click.echo(f"\nstarted: {', '.join(started)}" if started
               else "\nnothing changed: every service was already running")


@testbed.command()
@only_option
def down(only: str | None) -> None:
    """Stop the services this testbed started; their data directories are kept."""
    try:
        result = Testbed().down(_services(only))
    except TestbedError as exc:
        raise click.ClickException(str(exc)) from exc
    for name, outcome in result.items():
        click.echo(f"{name:<9} {outcome}")


@testbed.command()
@json_option
def status(as_json: bool) -> None:
    """Show whether each service runs and answers, with its address and log file."""
    result = Testbed().status()
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    click.echo(_table(result, "STATE", _state))


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    testbed()
