"""`wadah scan PATH`: scan a directory or archive and exit with the verdict's status code."""
from __future__ import annotations

import sys
from typing import Any

import click

from scanners.findings import Verdict
from scanners.policy import Policy, PolicyError
from scanners.scan import scan_path


class _ScanCommand(click.Command):
    """A command whose usage errors exit with the `error` verdict's code, not click's 2."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            # Exit 2 means "infected" to callers of `wadah scan`; a usage error is an error.
            exc.exit_code = Verdict.ERROR.exit_code  # type: ignore[misc]
            raise


def _progress_printer() -> Any:
    def show(done: int, total: int) -> None:
        click.echo(f"\rMemindai {done}/{total} berkas", nl=done == total, err=True)

    return show


@click.command(cls=_ScanCommand, name="scan")
@click.argument("path")
@click.option("--json", "as_json", is_flag=True, help="Cetak laporan sebagai satu objek JSON.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False),
              help="Tulis laporan HTML (Bahasa Indonesia) ke berkas ini.")
@click.option("--policy", "policy_path", type=click.Path(exists=True, dir_okay=False),
              help="Berkas kebijakan (YAML); bawaan: scanners/policy.yaml.")
@click.option("--clamd", "clamd_url", envvar="WADAH_CLAMD_URL", metavar="URL",
              help="Alamat clamd: unix:///path/clamd.sock atau tcp://host:port "
                   "(juga dari WADAH_CLAMD_URL).")
@click.option("--cache", "cache_dir", type=click.Path(file_okay=False), metavar="DIR",
              help="Direktori cache putusan: berkas yang isinya, mesin, aturan, signature dan "
                   "kebijakannya sama dengan pemindaian sebelumnya tidak dipindai ulang.")
@click.pass_context
def scan(ctx: click.Context, path: str, as_json: bool, html_path: str | None,
         policy_path: str | None, clamd_url: str | None, cache_dir: str | None) -> None:
    """Pindai PATH (direktori, .zip, .tar, .tar.gz, .tgz) dengan semua mesin pemindai.

    Status keluar: 0 bersih, 1 perlu tinjauan, 2 terinfeksi, 3 ditolak, 4 galat.
    """
    try:
        policy = Policy.load(policy_path)
    except PolicyError as exc:
        click.echo(f"Kebijakan tidak sah: {exc}", err=True)
        ctx.exit(Verdict.ERROR.exit_code)
    progress = _progress_printer() if not as_json and sys.stderr.isatty() else None
    report = scan_path(path, policy=policy, clamd_url=clamd_url, progress=progress,
                       cache_dir=cache_dir)
    if html_path:
        try:
            with open(html_path, "w", encoding="utf-8") as handle:
                handle.write(report.to_html())
        except OSError as exc:
            click.echo(f"Laporan HTML tidak dapat ditulis: {exc}", err=True)
            ctx.exit(Verdict.ERROR.exit_code)
    click.echo(report.to_json() if as_json else report.to_text())
    ctx.exit(report.exit_code)
