"""Trainer: checkpoints, exact resume after an interruption, early stopping, run directories."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from mambano_core.errors import CheckpointError, SpecError, TrainingInterrupted
from mambano_core.training.checkpoint import load_checkpoint, read_checkpoint
from mambano_core.training.spec import spec_from_dict
from mambano_core.training.trainer import Trainer

from conftest import tiny_spec_dict


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return read_checkpoint(path)["model_state"]


def _assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    for key in wa:
        assert torch.equal(wa[key], wb[key]), key


@pytest.mark.parametrize("stabilisers", [{}, {"warmup_epochs": 2, "grad_clip": 0.05}], ids=["plain", "warmup+clip"])
def test_resume_after_interruption_mid_epoch_gives_the_same_weights(
    tiny_store: Path, tmp_path: Path, stabilisers: dict
) -> None:
    full = Trainer(spec_from_dict(tiny_spec_dict(tiny_store, tmp_path / "full", epochs=3, **stabilisers)))
    full.fit()

    def stop_at_step_5(trainer: Trainer) -> None:  # 3 batches per epoch: step 5 is mid epoch 2
        if trainer.state.global_step == 5:
            trainer.stop_requested = True

    spec = spec_from_dict(tiny_spec_dict(tiny_store, tmp_path / "cut", epochs=3, **stabilisers))
    with pytest.raises(TrainingInterrupted, match="--resume"):
        Trainer(spec, step_callback=stop_at_step_5).fit()
    saved = read_checkpoint(spec.run_dir / "checkpoints" / "last.pt")["train_state"]["state"]
    assert (saved["epoch"], saved["step_in_epoch"], saved["global_step"]) == (1, 2, 5)

    summary = Trainer(spec, resume=True).fit()
    assert summary["epochs_run"] == 3
    for name in ("last.pt", "best.pt"):
        _assert_same_weights(full.ckpt_dir / name, spec.run_dir / "checkpoints" / name)
    lines = (spec.run_dir / "metrics.jsonl").read_text().splitlines()
    full_lines = (full.run_dir / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(l)["epoch"] for l in lines] == [1, 2, 3]
    assert [json.loads(l)["val_rel_l1_mean"] for l in lines] == [json.loads(l)["val_rel_l1_mean"] for l in full_lines]


def test_checkpoint_rebuilds_the_model_without_its_constructor(tiny_store: Path, tmp_path: Path) -> None:
    spec = spec_from_dict(tiny_spec_dict(tiny_store, tmp_path, epochs=1))
    trainer = Trainer(spec)
    trainer.fit()
    raw = read_checkpoint(spec.run_dir / "checkpoints" / "last.pt")
    assert raw["model_name"] == "resnet"
    assert raw["model_args"]["channels"] == 4 and raw["model_args"]["kernel_size"] == 3  # defaults resolved
    assert raw["spec"]["training"]["epochs"] == 1 and raw["package_version"]
    assert set(raw["normalization"]) == {"input_min", "input_max", "output_min", "output_max"}
    assert raw["data"]["boundary"] == "dirichlet" and raw["data"]["input_variable"] == "f"
    assert {"optimizer", "scheduler", "state", "rng"} <= set(raw["train_state"])
    loaded = load_checkpoint(spec.run_dir / "checkpoints" / "best.pt")  # one epoch: best == last
    x = torch.rand(2, 1, 16, 16)
    trainer.model.eval()
    with torch.no_grad():
        assert torch.equal(loaded.model.eval()(x), trainer.model(x))
    with pytest.raises(CheckpointError, match="holds a 'resnet' model"):
        load_checkpoint(spec.run_dir / "checkpoints" / "best.pt", expect_model="unet")
    assert (spec.run_dir / "spec.yaml").is_file() and (spec.run_dir / "summary.json").is_file()


def test_best_checkpoint_matches_the_best_epoch(tiny_store: Path, tmp_path: Path) -> None:
    spec = spec_from_dict(tiny_spec_dict(tiny_store, tmp_path, epochs=3))
    trainer = Trainer(spec)
    summary = trainer.fit()
    best = load_checkpoint(spec.run_dir / "checkpoints" / "best.pt")
    trainer.model = best.model
    mean = trainer.validate().mean
    assert mean == pytest.approx(summary["best_val_rel_l1_mean"], rel=1e-5)
    records = [json.loads(l) for l in (spec.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert min(r["val_rel_l1_mean"] for r in records) == pytest.approx(summary["best_val_rel_l1_mean"])


def test_early_stopping_stops_after_patience_epochs_without_improvement(tiny_store: Path, tmp_path: Path) -> None:
    spec = spec_from_dict(tiny_spec_dict(tiny_store, tmp_path, epochs=12, patience=1, lr=0.05))
    summary = Trainer(spec).fit()
    records = [json.loads(l) for l in (spec.run_dir / "metrics.jsonl").read_text().splitlines()]
    if summary["stop_reason"].startswith("early stopping"):
        assert records[-1]["best"] is False and summary["epochs_run"] == len(records) < 12
        assert all(r["best"] for r in records[:-1])
    else:
        assert all(r["best"] for r in records) and len(records) == 12


def test_a_finished_run_is_not_silently_overwritten(tiny_store: Path, tmp_path: Path) -> None:
    spec = spec_from_dict(tiny_spec_dict(tiny_store, tmp_path, epochs=1))
    Trainer(spec).fit()
    with pytest.raises(SpecError, match="--resume"):
        Trainer(spec)
    Trainer(spec, overwrite=True).fit()


def test_resume_with_another_model_is_refused(tiny_store: Path, tmp_path: Path) -> None:
    spec = spec_from_dict(tiny_spec_dict(tiny_store, tmp_path, epochs=1))
    Trainer(spec).fit()
    other = tiny_spec_dict(tiny_store, tmp_path, epochs=2)
    other["model"]["args"]["channels"] = 6
    with pytest.raises(CheckpointError, match="channels: 4 in the checkpoint, 6 in the spec"):
        Trainer(spec_from_dict(other), resume=True)
    other["model"] = {"name": "unet", "args": {"channels": 4}}
    other["output"]["name"] = spec.run_name
    with pytest.raises(CheckpointError, match="holds model 'resnet', but the spec asks for 'unet'"):
        Trainer(spec_from_dict(other), resume=True)


def test_same_seed_same_training_on_cpu(tiny_store: Path, tmp_path: Path) -> None:
    for name in ("a", "b"):
        Trainer(spec_from_dict(tiny_spec_dict(tiny_store, tmp_path / name, epochs=1))).fit()
    _assert_same_weights(tmp_path / "a/poisson-resnet/checkpoints/last.pt", tmp_path / "b/poisson-resnet/checkpoints/last.pt")


def test_time_budget_stops_mid_epoch_with_a_validated_checkpoint(tiny_store: Path, tmp_path: Path) -> None:
    spec = spec_from_dict(tiny_spec_dict(tiny_store, tmp_path, epochs=50, max_minutes=1e-9))
    summary = Trainer(spec).fit()
    assert summary["stop_reason"].startswith("time budget") and summary["epochs_run"] == 1
    state = read_checkpoint(spec.run_dir / "checkpoints" / "last.pt")["train_state"]["state"]
    assert state["global_step"] == 1  # stopped after the first step of the first epoch
    assert (spec.run_dir / "checkpoints" / "best.pt").is_file()
