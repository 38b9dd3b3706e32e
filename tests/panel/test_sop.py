from __future__ import annotations

import tomllib
from datetime import timedelta

import pytest

from panel.models import RoleKey
from panel.services.requests import sop


def test_builtin_templates_load() -> None:
    templates = sop.builtin_templates()
    assert {"muara_enim", "bolmut", "batam"} <= set(templates)
    assert sop.DEFAULT_TEMPLATE in templates


def test_muara_enim_follows_its_sop() -> None:
    template = sop.builtin_templates()["muara_enim"]
    assert [s.key for s in template.steps] == [
        "mulai", "terima_permohonan", "telaah_koordinasi", "verifikasi_keamanan",
        "cek_ketersediaan", "unggah_aplikasi", "laporan_subkoordinator", "laporan_kabid"]
    assert [s.waktu for s in template.steps[1:]] == [
        timedelta(minutes=m) for m in (5, 10, 10, 5, 60, 10, 5)]
    deploy = template.step("unggah_aplikasi")
    assert deploy.role == RoleKey.TECHNICIAN and "Web Panel Login" in deploy.output


def test_branches_choose_the_next_step() -> None:
    batam = sop.builtin_templates()["batam"]
    assert batam.next_key("cek_kapasitas", "tidak_tersedia") == "penyediaan_server"
    assert batam.next_key("cek_kapasitas", "tersedia") == "verifikasi_keamanan"
    assert batam.next_key("periksa_kelengkapan", "tidak") == "ditolak"
    assert batam.next_key("kirim_tanggapan") == "selesai"
    with pytest.raises(sop.InvalidTemplate):
        batam.next_key("cek_kapasitas")  # a decision step needs a decision


def _muara_enim_data() -> dict:
    with (sop.BUILTIN_DIR / "muara_enim.toml").open("rb") as fh:
        return tomllib.load(fh)


@pytest.mark.parametrize("breakage, message", [
    (lambda d: d["steps"][2].update(role="kepala_dunia"), "tidak sah"),
    (lambda d: d["steps"][2].update(action="teleport"), "aksi tidak dikenal"),
    (lambda d: d["steps"][2].update(branches={"ya": "nowhere"}), "tak dikenal"),
    (lambda d: d["steps"][3].update(key="mulai"), "ganda"),
    (lambda d: d["steps"][3].update(waktu_menit=0), "positif"),
    (lambda d: d["steps"][3].update(action="review"), "tidak ada langkah scan"),
    (lambda d: d["steps"].pop(0), "pengajuan"),
])
def test_broken_templates_are_refused_with_the_reason(breakage, message: str) -> None:
    data = _muara_enim_data()
    breakage(data)
    with pytest.raises(sop.InvalidTemplate, match=message):
        sop.parse(data)


def test_every_step_action_and_branch_end_is_a_named_value() -> None:
    for template in sop.builtin_templates().values():
        keys = {step.key for step in template.steps}
        assert all(isinstance(step.action, sop.StepAction) for step in template.steps)
        ends = {target for step in template.steps for target in step.branches.values()} - keys
        assert ends <= set(sop.EndState)
    assert sop.builtin_templates()["muara_enim"].next_key("laporan_kabid") is sop.EndState.DONE


def test_sop_002_has_the_seeds_18_steps_and_deploys_nothing() -> None:
    template = sop.builtin_templates()[sop.DEVELOPMENT_TEMPLATE]
    assert template.kind == sop.TemplateKind.DEVELOPMENT and len(template.steps) == 18
    assert [s.actor for s in template.steps].count("Tim Teknis Kominfo") == 4
    assert template.step("rekomendasi").output == "Surat Rekomendasi Tim Teknis"
    assert template.next_key("tanggapan_rencana", "tidak") == "rencana_pengembangan"
    # The seed gives no Mutu Baku: every time is a default a Pemda may change, none is missing.
    assert all(s.waktu for s in template.steps[1:])
    assert not {sop.StepAction.SCAN, sop.StepAction.ALLOCATE, sop.StepAction.DEPLOY} & {
        s.action for s in template.steps}


def test_only_a_hosting_template_must_scan_allocate_and_deploy() -> None:
    data = _muara_enim_data()
    data["steps"][3].update(action="work")
    with pytest.raises(sop.InvalidTemplate, match="tidak ada langkah scan"):
        sop.parse(data)
    data["kind"] = "pengembangan"
    assert sop.parse(data).kind == sop.TemplateKind.DEVELOPMENT
