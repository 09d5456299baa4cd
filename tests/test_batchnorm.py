"""Batch-norm recalibration before validation (precise BN) and the start of an output batch norm."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from mambano_core.data.dataset import FieldPairDataset
from mambano_core.data.store import Store
from mambano_core.scoring import relative_l1_percent
from mambano_core.layers.drop_path import DropPath
from mambano_core.training.batchnorm import (
    batchnorm_layers,
    recalibrate_batchnorm,
    start_output_norm,
)
from mambano_core.training.checkpoint import read_checkpoint
from mambano_core.training.spec import spec_from_dict
from mambano_core.training.trainer import Trainer

from conftest import TINY_RESOLUTION, tiny_spec_dict

TINY_MAMBANO = {"name": "mambano", "args": {"channels": 4, "depths": [1, 1, 1, 1], "d_state": 4, "lift_channels": 8}}


class _Net(nn.Module):
    """conv -> BN -> DropPath -> dropout: batch norm between two random operations."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3, padding=1)
        self.norm = nn.BatchNorm2d(3)
        self.drop = DropPath(0.5)
        self.dropout = nn.Dropout(0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.drop(self.norm(self.conv(x))))


def _batches(n: int = 3) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return [torch.randn(4, 2, 6, 6, generator=g) * (i + 1) + i for i in range(n)]


def test_recalibration_is_the_average_of_the_batch_statistics_and_draws_nothing() -> None:
    torch.manual_seed(0)
    net = _Net().train()
    net.norm.momentum = 0.3
    net.dropout.eval()  # a mixed state must come back as it was
    batches = _batches()
    rng = torch.get_rng_state()
    done = recalibrate_batchnorm(net, batches)
    assert torch.equal(torch.get_rng_state(), rng)  # no DropPath / dropout draw
    assert (done.layers, done.batches, done.samples) == (1, 3, 12)
    with torch.no_grad():
        features = [net.conv(x) for x in batches]
    means = torch.stack([f.mean(dim=(0, 2, 3)) for f in features]).mean(0)
    variances = torch.stack([f.var(dim=(0, 2, 3), unbiased=True) for f in features]).mean(0)
    torch.testing.assert_close(net.norm.running_mean, means)
    torch.testing.assert_close(net.norm.running_var, variances)
    assert net.norm.momentum == 0.3 and net.training and net.norm.training and not net.dropout.training


def test_recalibration_leaves_a_model_without_batch_norm_alone() -> None:
    net = nn.Sequential(nn.Conv2d(2, 2, 1), nn.LayerNorm([2, 6, 6]))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    done = recalibrate_batchnorm(net, _batches())
    assert done.batches == 0 and done.layers == 0
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


def test_output_norm_starts_at_the_targets_mean_and_std() -> None:
    norm = nn.BatchNorm2d(2)
    g = torch.Generator().manual_seed(1)
    targets = [torch.rand(3, 2, 5, 5, generator=g) * torch.tensor([1.0, 4.0]).view(1, 2, 1, 1) for _ in range(3)]
    mean, std = start_output_norm(norm, targets)
    everything = torch.cat(targets).transpose(0, 1).reshape(2, -1).double()
    torch.testing.assert_close(norm.bias.data, everything.mean(1).float())
    torch.testing.assert_close(norm.weight.data, everything.std(1, unbiased=False).float())
    with pytest.raises(ValueError, match="channels"):
        start_output_norm(nn.BatchNorm2d(3), targets)


def _spec(store: Path, runs: Path, model: dict[str, Any] | None = None, **training: Any):
    raw = tiny_spec_dict(store, runs, **training)
    if model is not None:
        raw["model"] = model
    return spec_from_dict(raw)


def _eval_and_batch_mode_errors(trainer: Trainer) -> tuple[float, float]:
    """Mean relative L1 (%) on the first validation batch with running (eval) and batch statistics."""
    x, y = next(iter(trainer.val_loader))
    model, layers = trainer.model, batchnorm_layers(trainer.model)
    with torch.no_grad():
        model.eval()
        running = relative_l1_percent(model(x), y).mean().item()
        for layer in layers:  # batch statistics, the rest (DropPath) in evaluation mode
            layer.train()
        saved = [(layer.running_mean.clone(), layer.running_var.clone()) for layer in layers]
        batch = relative_l1_percent(model(x), y).mean().item()
        for layer, (mean, var) in zip(layers, saved):
            layer.running_mean.copy_(mean)
            layer.running_var.copy_(var)
        model.eval()
    return running, batch


def test_recalibrated_statistics_validate_like_batch_statistics(tiny_store: Path, tmp_path: Path) -> None:
    """A tiny MambaNO at a high rate: its running statistics lag an epoch behind the weights.
    Measured: with recalibration the eval-mode error is within 0.3 % of the batch-statistics
    error on the same batch; without it, 40 % above."""
    gaps = {}
    for recal in (True, False):
        spec = _spec(tiny_store, tmp_path / str(recal), TINY_MAMBANO, epochs=3, lr=1e-2, recalibrate_bn=recal)
        trainer = Trainer(spec)
        trainer.fit()
        running, batch = _eval_and_batch_mode_errors(trainer)
        gaps[recal] = abs(running - batch) / batch
        records = [json.loads(line) for line in (spec.run_dir / "metrics.jsonl").read_text().splitlines()]
        assert all(("bn_recal_s" in r) == recal for r in records)
    print(f"\nrelative gap eval vs batch statistics: recalibrated {gaps[True]:.3f}, stale {gaps[False]:.3f}")
    assert gaps[True] < 0.05
    assert gaps[False] > 0.05


def test_checkpoints_carry_the_recalibrated_statistics(tiny_store: Path, tmp_path: Path) -> None:
    spec = _spec(tiny_store, tmp_path, epochs=1, recalibrate_bn_batches=1)
    trainer = Trainer(spec)
    trainer.fit()
    state = read_checkpoint(spec.run_dir / "checkpoints" / "best.pt")["model_state"]
    store = Store(tiny_store, "poisson")
    names = store.manifest()["input_variable"], store.manifest()["output_variable"]
    train = FieldPairDataset(store.split_file("train", TINY_RESOLUTION), *names, store.normalization(TINY_RESOLUTION))
    first = torch.stack([train[i][0] for i in range(8)])  # recalibrate_bn_batches=1: the first batch only
    layer_name, layer = next((n, m) for n, m in trainer.model.named_modules() if isinstance(m, nn.BatchNorm2d))
    with torch.no_grad():
        captured: list[torch.Tensor] = []
        hook = layer.register_forward_hook(lambda m, inputs, out: captured.append(inputs[0]))
        trainer.model.eval()
        trainer.model(first)
        hook.remove()
    want = captured[0].mean(dim=(0, 2, 3))
    torch.testing.assert_close(state[f"{layer_name}.running_mean"], want, rtol=1e-5, atol=1e-6)
    assert int(state[f"{layer_name}.num_batches_tracked"]) == 1


@pytest.mark.filterwarnings("error::UserWarning")  # no false "scheduler before optimizer" alarm on resume
@pytest.mark.parametrize("stop_at", [3, 4], ids=["before-epoch-end", "after-epoch-end"])
def test_resume_across_an_epoch_boundary_is_bit_identical_with_recalibration(
    tiny_store: Path, tmp_path: Path, stop_at: int
) -> None:
    """3 batches per epoch: step 3 stops before epoch 1's recalibration, step 4 right after it.
    DropPath draws random numbers while training; recalibration must not."""
    model = {"name": "mambano", "args": {**TINY_MAMBANO["args"], "drop_path": 0.3}}
    full = Trainer(_spec(tiny_store, tmp_path / "full", model, epochs=2))
    full.fit()

    def stop(trainer: Trainer) -> None:
        if trainer.state.global_step == stop_at:
            trainer.stop_requested = True

    spec = _spec(tiny_store, tmp_path / "cut", model, epochs=2)
    with pytest.raises(Exception, match="--resume"):
        Trainer(spec, step_callback=stop).fit()
    Trainer(spec, resume=True).fit()
    for name in ("best.pt", "last.pt"):
        a = read_checkpoint(full.ckpt_dir / name)["model_state"]
        b = read_checkpoint(spec.run_dir / "checkpoints" / name)["model_state"]
        assert all(torch.equal(a[k], b[k]) for k in a), name
    cut = [json.loads(l) for l in (spec.run_dir / "metrics.jsonl").read_text().splitlines()]
    ref = [json.loads(l) for l in (full.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [(r["epoch"], r["val_rel_l1_mean"]) for r in cut] == [(r["epoch"], r["val_rel_l1_mean"]) for r in ref]


def test_a_model_without_batch_norm_trains_the_same_with_recalibration_on_or_off(tiny_store: Path, tmp_path: Path) -> None:
    fno = {"name": "fno", "args": {"modes": 4, "width": 8, "layers": 2, "backend": "native"}}
    runs = {}
    for recal in (True, False):
        spec = _spec(tiny_store, tmp_path / str(recal), fno, epochs=2, recalibrate_bn=recal)
        Trainer(spec).fit()
        runs[recal] = spec.run_dir
    for name in ("best.pt", "last.pt"):
        a = read_checkpoint(runs[True] / "checkpoints" / name)["model_state"]
        b = read_checkpoint(runs[False] / "checkpoints" / name)["model_state"]
        assert all(torch.equal(a[k], b[k]) for k in a)
    strip = lambda path: [{k: v for k, v in json.loads(l).items() if k != "time_s"}  # noqa: E731
                          for l in (path / "metrics.jsonl").read_text().splitlines()]
    assert strip(runs[True]) == strip(runs[False])
    assert "bn_recal_s" not in (runs[True] / "metrics.jsonl").read_text()


def test_training_starts_mambanos_output_norm_from_the_targets(tiny_store: Path, tmp_path: Path) -> None:
    spec = _spec(tiny_store, tmp_path, TINY_MAMBANO, epochs=1)
    trainer = Trainer(spec)
    norm = trainer.model.output_norm
    targets = torch.stack([trainer.train_set[i][1] for i in range(len(trainer.train_set))]).double()
    torch.testing.assert_close(norm.bias.data, targets.mean().float().view(1))
    torch.testing.assert_close(norm.weight.data, targets.std(unbiased=False).float().view(1))
    summary = trainer.fit()
    assert summary["output_norm_start"]["mean"] == pytest.approx([targets.mean().item()], rel=1e-5)
    off = Trainer(_spec(tiny_store, tmp_path / "off", TINY_MAMBANO, epochs=1, init_output_norm=False))
    assert torch.equal(off.model.output_norm.bias.data, torch.zeros(1))
    assert torch.equal(off.model.output_norm.weight.data, torch.ones(1))


def test_best_checkpoint_scores_on_validation_what_validation_recorded(tiny_store: Path, tmp_path: Path) -> None:
    """eval and predict load best.pt: it must hold the statistics that validation used."""
    from mambano_core.training.checkpoint import load_checkpoint

    spec = _spec(tiny_store, tmp_path, TINY_MAMBANO, epochs=3, lr=1e-2)
    trainer = Trainer(spec)
    summary = trainer.fit()
    loaded = load_checkpoint(spec.run_dir / "checkpoints" / "best.pt").model.eval()
    with torch.no_grad():
        errors = torch.cat([relative_l1_percent(loaded(x), y) for x, y in trainer.val_loader])
    assert errors.mean().item() == pytest.approx(summary["best_val_rel_l1_mean"], rel=1e-6)
