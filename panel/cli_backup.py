"""`wadah backup create|list|restore`: the panel's own backup, sealed with an operator passphrase."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click


@click.group()
def backup() -> None:
    """Back up or restore the panel: database, instance file, CA and letters."""


_repo_option = click.option(
    "--repo", envvar="WADAH_PANEL_BACKUP_REPO", default=None,
    help="Repositori restic: folder, sftp:… atau s3:… (bawaan: <state>/backups/panel).")
_passphrase_option = click.option("--passphrase-stdin", is_flag=True,
                                  help="Baca frasa sandi dari stdin, bukan dari prompt.")


def _backup_repository(repo: str | None, passphrase: Path) -> Any:
    from agents.backups import Repository
    from panel import config as configuration

    return Repository(repo or str(configuration.state_dir() / "backups" / "panel"), passphrase)


def _passphrase(from_stdin: bool, confirm: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return str(click.prompt("Frasa sandi cadangan", hide_input=True, confirmation_prompt=confirm))


@backup.command("create")
@_repo_option
@_passphrase_option
@click.option("--with-artifacts", is_flag=True, help="Sertakan bundel unggahan (besar).")
def backup_create(repo: str | None, passphrase_stdin: bool, with_artifacts: bool) -> None:
    """Back up the panel into a restic repository sealed with a passphrase."""
    from panel import backup as panel_backup
    from panel import config as configuration

    try:
        with panel_backup.passphrase_file(_passphrase(passphrase_stdin, True)) as secret:
            made = panel_backup.create(panel_backup.PanelPaths.of(configuration.state_dir() / "panel"),
                                       _backup_repository(repo, secret), with_artifacts=with_artifacts)
    except (panel_backup.PanelBackupRefused, panel_backup.BackupFailed) as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"{made.id}  {made.created_at}  {made.size} bita")


@backup.command("list")
@_repo_option
@_passphrase_option
def backup_list(repo: str | None, passphrase_stdin: bool) -> None:
    """List the panel's backups, newest first."""
    from panel import backup as panel_backup

    try:
        with panel_backup.passphrase_file(_passphrase(passphrase_stdin, False)) as secret:
            found = panel_backup.list_backups(_backup_repository(repo, secret))
    except (panel_backup.PanelBackupRefused, panel_backup.BackupFailed) as error:
        raise click.ClickException(str(error)) from error
    for made in found:
        click.echo(f"{made.id}  {made.created_at}  {made.size} bita")


@backup.command("restore")
@click.argument("backup_id")
@_repo_option
@_passphrase_option
@click.option("--force", is_flag=True, help="Timpa basis data panel yang sudah ada.")
def backup_restore(backup_id: str, repo: str | None, passphrase_stdin: bool, force: bool) -> None:
    """Restore a panel backup into this machine's state directory (stop the panel first)."""
    from panel import backup as panel_backup
    from panel import config as configuration

    try:
        with panel_backup.passphrase_file(_passphrase(passphrase_stdin, False)) as secret:
            instance_file = panel_backup.restore(configuration.state_dir() / "panel",
                                                 _backup_repository(repo, secret), backup_id,
                                                 force=force)
    except (panel_backup.PanelBackupRefused, panel_backup.BackupFailed) as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"Dipulihkan: {instance_file}; jalankan `wadah db upgrade`, lalu panel.")
