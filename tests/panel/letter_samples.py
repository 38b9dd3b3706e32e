"""Two official letters as a data center would issue them, with the SOP timeline they report."""
from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

from panel.services.documents.letter_pdf import Letterhead, Recipient, Signatory, TimelineRow
from panel.services.documents.letters import HostingReport, ResponseLetter

WIB = timezone(timedelta(hours=7))
START = datetime(2026, 11, 22, 8, 30, tzinfo=WIB)

MUARA_ENIM = Letterhead(
    pemda="Kabupaten Muara Enim",
    dinas="Dinas Komunikasi dan Informatika",
    unit="Bidang Penyelenggaraan E-Government",
    address="Jalan Jenderal Sudirman Nomor 1, Muara Enim, Sumatera Selatan 31311",
    contact="Laman: diskominfo.muaraenimkab.go.id  Pos-el: diskominfo@muaraenimkab.go.id",
    city="Muara Enim",
)

# The Muara Enim SOP: (label, role, actor, minutes taken, Mutu Baku minutes)
STEPS = [
    ("Menerima surat permohonan penggunaan sub-domain dan hosting (disposisi Kepala Dinas)",
     "Kabid Penyelenggaraan E-Government", "Hendra Wijaya", 4, 5),
    ("Menelaah dan berkoordinasi dengan OPD pemohon terkait sub-domain dan hosting",
     "Sub Koordinator", "Rina Marlina", 8, 10),
    ("Verifikasi dan evaluasi keamanan berkas aplikasi yang akan di-hosting",
     "Pengelola Instalasi TI", "Agus Saputra", 12, 10),
    ("Pemeriksaan ketersediaan IP/sub-domain", "Pengelola Instalasi TI", "Agus Saputra", 3, 5),
    ("Mengunggah berkas aplikasi ke server", "Pengelola Instalasi TI", "Agus Saputra", 41, 60),
    ("Membuat dan menyampaikan laporan penggunaan sub-domain dan hosting ke Sub Koordinator",
     "Sub Koordinator", "Rina Marlina", 6, 10),
]


def timeline() -> tuple[TimelineRow, ...]:
    rows, moment = [], START
    for label, role, actor, taken, limit in STEPS:
        finished = moment + timedelta(minutes=taken)
        rows.append(TimelineRow(step=label, role=role, actor=actor, started=moment, finished=finished,
                                elapsed_minutes=taken, mutu_baku_minutes=limit, on_time=taken <= limit))
        moment = finished + timedelta(minutes=2)
    rows.append(TimelineRow(step="Menyampaikan laporan ke Kabid Penyelenggaraan E-Government",
                            role="Kabid Penyelenggaraan E-Government", actor="Hendra Wijaya",
                            started=moment, finished=None, mutu_baku_minutes=5))
    return tuple(rows)


def hosting_report(**changes: object) -> HostingReport:
    report = HostingReport(
        letterhead=MUARA_ENIM,
        number="500.12/0457/Diskominfo-III/2026",
        date=datetime(2026, 11, 22, 10, 15, tzinfo=WIB),
        recipient=Recipient(title="Sub Koordinator Pengembangan dan Pengelolaan Aplikasi"),
        signatory=Signatory(name="Agus Saputra, S.Kom.", title="Pengelola Instalasi Teknologi Informasi",
                            rank="Penata Muda Tingkat I (III/b)"),
        request_number="HST-2026-0042",
        opd_name="Dinas Kesehatan Kabupaten Muara Enim",
        app_name="SIMPUS (Sistem Informasi Manajemen Puskesmas)",
        subdomain="simpus.muaraenimkab.go.id",
        host_name="dc-node-02",
        ip="127.20.0.12",
        scan_verdict="clean",
        scan_summary="ClamAV, aturan webshell PHP, konten judi online, rahasia, jenis berkas berbahaya: "
                     "0 temuan dari 1.284 berkas.",
        release_number=3,
        artifact_sha256="9f2c4e1ab07d3c55e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8",
        web_panel_username="dinkes-simpus",
        web_panel_url="https://panel.muaraenimkab.go.id/",
        timeline=timeline(),
        copies=("Kepala Dinas Komunikasi dan Informatika Kabupaten Muara Enim (sebagai laporan)",),
    )
    return dataclasses.replace(report, **changes)


def response_letter(**changes: object) -> ResponseLetter:
    letter = ResponseLetter(
        letterhead=Letterhead(
            pemda="Kabupaten Bolaang Mongondow Utara",
            dinas="Dinas Komunikasi Informatika dan Persandian",
            unit="Bidang Aplikasi Informatika Persandian dan Statistik",
            address="Jalan Trans Sulawesi, Boroko, Bolaang Mongondow Utara 95765",
            city="Boroko",
            zone="WITA",
        ),
        number="555/DKIP/0311/XI/2026",
        date=datetime(2026, 11, 24, 9, 0, tzinfo=WIB),
        recipient=Recipient(title="Kepala Dinas Pendidikan Kabupaten Bolaang Mongondow Utara",
                            place="Boroko"),
        signatory=Signatory(name="Aang Wardiman, AK.CA",
                            title="Kepala Dinas Komunikasi Informatika dan Persandian",
                            rank="Pembina Utama Muda", nip="19641024 198603 1 002"),
        request_number="HST-2026-0051",
        opd_name="Dinas Pendidikan",
        app_name="Sistem Informasi PPDB",
        subdomain="ppdb.bolmutkab.go.id",
        approved=True,
        request_letter_number="421/DISDIK/1120/2026",
        request_letter_date=datetime(2026, 11, 10, tzinfo=WIB),
        app_url="https://ppdb.bolmutkab.go.id/",
        web_panel_url="https://panel.bolmutkab.go.id/",
        web_panel_username="disdik-ppdb",
    )
    return dataclasses.replace(letter, **changes)
