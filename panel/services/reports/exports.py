"""The inventory and the requests' step timings as spreadsheet rows, read in chunks while they stream.

The exports are made in Bahasa Indonesia (the blueprint forces it, panel/i18n.py) and their own words
are not translated.
"""
from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, select
from sqlalchemy.orm import aliased

from panel.extensions import db
from panel.formatting import APP_STATUS_LABELS, REQUEST_STATUS_LABELS, STACK_LABELS, VERDICT_LABELS
from panel.models import App, Host, HostingRequest, Opd, RequestStep, SopTemplateVersion, User
from panel.services.apps import inventory
from panel.services.documents.spreadsheets import Cell
from panel.services.reports.periods import DateRange, local
from panel.services.requests import sla, sop, working_time

EXPORT_CHUNK_ROWS = 1000
UNPLACED = "Belum ditempatkan"  # in the inventory export, which stays in Indonesian
APP_HEADER = ("nama", "alamat", "opd", "jenis", "server", "status", "alamat_ip", "dicatat",
              "pertama_di_hosting", "rilis_terakhir", "waktu_rilis_terakhir", "pemindaian_terakhir", "kontak")
REQUEST_HEADER = ("nomor", "opd", "aplikasi", "sub_domain", "jenis", "status", "diajukan", "langkah",
                  "peran", "pelaksana", "mulai", "selesai", "durasi_menit", "mutu_baku_menit", "tepat_waktu")
ON_TIME_LABELS = {
    sla.TimingState.DONE_ON_TIME: "Ya", sla.TimingState.DONE_LATE: "Tidak",
    sla.TimingState.OVERDUE: "Terlambat, belum selesai", sla.TimingState.DUE_SOON: "Belum selesai",
    sla.TimingState.ON_TIME: "Belum selesai",
}
StepActor = aliased(User, name="step_actor")


def app_rows(user: User, span: DateRange,
             chunk_rows: int = EXPORT_CHUNK_ROWS) -> Iterator[tuple[Cell, ...]]:
    """Yield one row per app registered in `span` that `user` may see, as the inventory lists it."""
    chosen = (inventory.inventory_query(user, inventory.AppFilters())
              .where(App.created_at >= span.start, App.created_at < span.end))
    query = (inventory.facts_query(chosen.with_only_columns(App.id).order_by(None))
             .add_columns(App.name, App.subdomain, App.zone, Opd.name.label("opd"), App.stack,
                          Host.name.label("host"), App.status, App.ip, App.created_at)
             .join(Opd, Opd.id == App.opd_id).outerjoin(Host, Host.id == App.host_id)
             .order_by(App.name, App.id))
    for row in _streamed(query, chunk_rows):
        release = row.latest_release
        yield (row.name, f"{row.subdomain}.{row.zone}", row.opd, STACK_LABELS.get(row.stack, row.stack),
               row.host or UNPLACED, APP_STATUS_LABELS.get(row.status, row.status), row.ip,
               local(row.created_at), local(row.first_hosted_at),
               release.number if release else None,
               local(release.deployed_at or release.created_at) if release else None,
               VERDICT_LABELS.get(row.last_verdict, row.last_verdict) if row.last_verdict else None,
               inventory.contact_of(row.contact, row.filer, row.filer_email))


def request_rows(span: DateRange, now: datetime,
                 chunk_rows: int = EXPORT_CHUNK_ROWS) -> Iterator[tuple[Cell, ...]]:
    """Yield one row per step of each request submitted in `span`, timed against its Mutu Baku."""
    labels = _labels_by_version()
    roles = sla.role_labels()
    query = (select(HostingRequest.number, HostingRequest.template_version_id, Opd.name.label("opd"),
                    HostingRequest.app_name, HostingRequest.subdomain, HostingRequest.stack,
                    HostingRequest.status, HostingRequest.submitted_at, RequestStep,
                    StepActor.full_name.label("actor_name"), StepActor.username.label("actor_username"))
             .join(Opd, Opd.id == HostingRequest.opd_id)
             .outerjoin(RequestStep, RequestStep.request_id == HostingRequest.id)
             .outerjoin(StepActor, StepActor.id == RequestStep.actor_id)
             .where(HostingRequest.submitted_at >= span.start, HostingRequest.submitted_at < span.end)
             .order_by(HostingRequest.submitted_at, HostingRequest.id, RequestStep.id))
    calendar = working_time.load()
    for row in _streamed(query, chunk_rows):
        step: RequestStep | None = row.RequestStep
        common = (row.number, row.opd, row.app_name, row.subdomain, STACK_LABELS.get(row.stack, row.stack),
                  REQUEST_STATUS_LABELS.get(row.status, row.status), local(row.submitted_at))
        if step is None:
            yield (*common, None, None, None, None, None, None, None, None)
            continue
        timing = sla.step_timing(step, now, calendar)
        yield (*common, labels.get((row.template_version_id, step.step_key), step.step_key),
               roles.get(step.role, step.role), row.actor_name or row.actor_username,
               local(step.started_at), local(step.finished_at),
               round(timing.elapsed_minutes, 1) if step.finished_at else None, step.due_minutes,
               ON_TIME_LABELS[timing.state] if timing.due_minutes is not None else "Tanpa Mutu Baku")


def _streamed(query: Select[*tuple[Any, ...]], chunk_rows: int) -> Iterator[Row[*tuple[Any, ...]]]:
    """Yield the query's rows, `chunk_rows` at a time; the cursor closes even if the reader stops early."""
    with db.session.execute(query.execution_options(yield_per=chunk_rows)) as result:
        yield from result


def _labels_by_version() -> dict[tuple[int, str], str]:
    return {(version_id, step.key): step.label
            for version_id, definition in db.session.execute(
                select(SopTemplateVersion.id, SopTemplateVersion.definition))
            for step in sop.parse(definition).steps}
