"""`mambano reproduce` on the tiny preset: the table, the report, and skipping finished pairs."""

from __future__ import annotations

import json
import os
from pathlib import Path

from typer.testing import CliRunner

from mambano_cli.app import app

MODELS = "unet,resnet,fno"


def test_reproduce_tiny_writes_the_table_and_skips_finished_pairs(tmp_path: Path) -> None:
    args = ["reproduce", "--preset", "tiny", "--benchmarks", "poisson,transport_discontinuous",
            "--models", MODELS, "--out", str(tmp_path), "--workers", "1", "--json"]
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    results = json.loads((tmp_path / "results.json").read_text())
    assert {(r["benchmark"], r["model"]) for r in results} == {
        (b, m) for b in ("poisson", "transport_discontinuous") for m in MODELS.split(",")}
    assert all(set(r["scores"]) == {"in", "out"} for r in results)
    table = (tmp_path / "results.md").read_text()
    assert "poisson In" in table and "transport_discontinuous Out" in table and "**" in table
    report = (tmp_path / "report.md").read_text()
    assert "preset `tiny`" in report and "curves.png" in report
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"

    checkpoint = tmp_path / "runs" / "poisson-unet" / "checkpoints" / "best.pt"
    stamp = checkpoint.stat().st_mtime_ns
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0 and "skip poisson x unet: already trained" in result.output
    assert checkpoint.stat().st_mtime_ns == stamp


def test_reproduce_rejects_unknown_names(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["reproduce", "--preset", "tiny", "--models", "gpt", "--out", str(tmp_path)])
    assert result.exit_code == 3 and "unknown model(s) gpt" in result.output
    result = CliRunner().invoke(app, ["reproduce", "--preset", "huge", "--out", str(tmp_path)])
    assert result.exit_code == 3 and "cpu-small" in result.output


def test_tiny_preset_generates_the_airfoil_on_a_coarse_solver_grid(tmp_path: Path, monkeypatch) -> None:
    """The tiny preset passes its generator overrides (a 4x coarser Euler grid) to the store."""
    import mambano_core.data.store as store
    from mambano_core.studies.presets import get_preset
    from mambano_core.studies.reproduce import generate_data

    calls = []
    monkeypatch.setattr(store, "generate_store", lambda *a, **kw: calls.append((a, kw)))
    generate_data(get_preset("tiny"), ["poisson", "airfoil"], tmp_path, workers=1, log=lambda _: None)
    overrides = {a[0]: kw["overrides"] for a, kw in calls}
    assert overrides["poisson"] is None
    assert overrides["airfoil"]["solver_spacing"] == 1.0 / 32.0
    assert get_preset("cpu-small").generator_overrides == {}  # the table's airfoil is the full solve


def test_each_worker_keeps_one_device_and_no_two_workers_share_one() -> None:
    from mambano_core.studies.reproduce import device_pool, worker_device

    with device_pool(["cuda:0", "cuda:1"]) as pool:
        seen = [f.result() for f in [pool.submit(_pid_and_device) for _ in range(12)]]
    device_of: dict[int, str] = {}
    for pid, device in seen:
        assert device_of.setdefault(pid, device) == device
    assert sorted(device_of.values()) == ["cuda:0", "cuda:1"]  # both workers ran tasks, one device each
    assert worker_device() is None


def _pid_and_device() -> tuple[int, str | None]:
    import time

    from mambano_core.studies.reproduce import worker_device

    time.sleep(0.05)  # long enough that both workers take tasks
    return os.getpid(), worker_device()


def test_only_the_galerkin_transformer_gets_its_own_rate_and_warmup(tmp_path: Path) -> None:
    from mambano_core.studies.presets import get_preset
    from mambano_core.studies.reproduce import plan_pairs

    for preset, warmup in (("cpu-small", 2), ("gpu-full", 100)):
        pairs = plan_pairs(get_preset(preset), ["poisson"], ["galerkin_transformer", "mambano", "cno"], tmp_path)
        assert {p.model: p.spec["training"].get("warmup_epochs", 0) for p in pairs} == {
            "galerkin_transformer": warmup, "mambano": 0, "cno": 0}
        assert {p.model: p.spec["training"]["lr"] for p in pairs} == {
            "galerkin_transformer": 3e-4, "mambano": 1e-3, "cno": 1e-3}


def test_gpu_full_applies_the_settings_published_for_one_pair_only(tmp_path: Path) -> None:
    """MambaNO's trained Navier-Stokes record (C=16, lr 7e-4, wd 1e-10) and the CNO repository's
    shear-layer model-selection settings apply to Navier-Stokes alone; the rest keep the protocol."""
    from mambano_core.studies.presets import get_preset
    from mambano_core.studies.reproduce import plan_pairs

    pairs = {(p.benchmark, p.model): p.spec for p in plan_pairs(
        get_preset("gpu-full"), ["poisson", "navier_stokes"], ["mambano", "cno", "fno", "unet"], tmp_path)}
    ns = pairs[("navier_stokes", "mambano")]
    assert ns["model"]["args"] == {"channels": 16}
    assert (ns["training"]["lr"], ns["training"]["weight_decay"], ns["training"]["epochs"]) == (7e-4, 1e-10, 1000)
    assert pairs[("navier_stokes", "cno")]["training"]["lr"] == 7e-4
    fno = pairs[("navier_stokes", "fno")]
    assert fno["model"]["args"] == {"layers": 5}
    assert (fno["training"]["epochs"], fno["training"]["batch_size"], fno["training"]["scheduler_gamma"]) == (750, 32, 0.99)
    for model in ("mambano", "cno", "fno", "unet"):
        poisson = pairs[("poisson", model)]
        assert (poisson["training"]["lr"], poisson["training"]["weight_decay"]) == (1e-3, 1e-6)
        assert poisson["model"]["args"] == {}
    assert pairs[("navier_stokes", "unet")]["training"] == pairs[("poisson", "unet")]["training"]


def test_reproduce_overrides_change_every_spec_and_are_checked_first(tmp_path: Path) -> None:
    from mambano_core.studies.presets import get_preset
    from mambano_core.studies.reproduce import plan_pairs

    pairs = plan_pairs(get_preset("tiny"), ["poisson", "wave"], ["cno", "unet"], tmp_path,
                       ["training.recalibrate_bn=false", "training.epochs=3"])
    assert all(p.spec["training"]["recalibrate_bn"] is False and p.spec["training"]["epochs"] == 3 for p in pairs)
    result = CliRunner().invoke(app, ["reproduce", "--preset", "tiny", "--models", "unet", "--out", str(tmp_path / "bad"),
                                      "--set", "training.recalibrate=false"])
    assert result.exit_code == 3 and "training.recalibrate: unknown key" in result.output
    assert not (tmp_path / "bad" / "data").exists()
