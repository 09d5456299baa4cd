"""The contract every registered model meets, checked on small configurations (seconds each).

Parametrised over :func:`available_models`, so a newly registered model is checked without
editing this file, provided it has a small configuration: the ``tiny`` preset's sizes
(``PRESETS["tiny"].model_args``, what ``mambano reproduce --preset tiny`` trains) or an entry in
:data:`EXTRA_CONFIGS` (a model the preset lacks, or a variant that takes another code path).
A model with neither fails every check with a message saying where to add one.

For every configuration the checks assert

1. shape ``(B, out_channels, H, W)`` and finite values, in training and evaluation mode;
2. a few AdamW steps on a fixed smooth batch lower the relative L1 by at least 20%;
3. every parameter gets a non-zero gradient, decided in float64 (see
   :func:`test_every_parameter_gets_a_gradient` for the threshold);
4. a checkpoint written by :func:`save_checkpoint` and read by :func:`load_checkpoint` (with
   the arguments :func:`resolved_model_args` gives, which must be complete and JSON) rebuilds a
   model with bit-identical evaluation outputs;
5. on a second grid the model either runs, with the right shape, or refuses the grid with a
   ``ValueError`` naming the grid and the reason; which of the two is derived from the model
   (``size_multiple``, or a fixed ``resolution``) and checked against :data:`GRID_RULES`;
6. the same seed builds the same initial weights (and another seed other ones).

Model-specific checks (parameter counts, architecture, parity with neuraloperator, reference
equations) stay in the model's own test file.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from model_checks import _batch, _rel_l1, _seed_and_one_thread  # noqa: F401 (autouse fixture)
from torch import nn

from mambano_core.data.normalization import Normalization
from mambano_core.models.mambano import CONFIGURATIONS
from mambano_core.models.registry import (
    available_models,
    build_model,
    model_class,
    resolved_model_args,
)
from mambano_core.studies.presets import PRESETS
from mambano_core.training.checkpoint import load_checkpoint, save_checkpoint

GRID = 16  # side of the training grid of every small configuration
SECOND_GRID = (20, 28)  # non-square, not a power of two: rounded up to a model's size multiple
IO = {"in_channels": 2, "out_channels": 3}  # _batch() gives two input and three output channels
HAS_NEURALOP = importlib.util.find_spec("neuralop") is not None

#: Small configurations besides the tiny preset's (which every model should have, as ``tiny``).
#: Variants with their own code paths: other branches, decoders, up-sampling, a UNet that pads
#: (levels 3 on the 20-wide second grid), a CNO with 2**2 as its size multiple, single channels,
#: MambaNO's ablations.
EXTRA_CONFIGS: dict[str, dict[str, dict[str, Any]]] = {
    "cno": {
        "two-levels-no-inv": {"channels": 8, "levels": 2, "res_blocks": 0, "neck_blocks": 1,
                              "lift_channels": 16, "add_inv": False},
    },
    "deeponet": {  # not in the tiny preset
        "cnn": {"basis": 16, "branch_layers": 2, "branch_channels": 8, "branch_res_blocks": 1,
                "trunk_layers": 2, "trunk_width": 32},
        "mlp": {"branch": "mlp", "basis": 16, "branch_layers": 2, "branch_width": 64, "trunk_layers": 2,
                "trunk_width": 32, "activation": "tanh", "in_channels": 1, "out_channels": 1},
    },
    "mambano": {  # the ablations with code paths of their own (the tiny sizes)
        name: {**PRESETS["tiny"].model_args["mambano"], **CONFIGURATIONS[name]}
        for name in ("no-mamba", "no-conv", "pointwise-activations", "one-direction")
    },
    "ffnn": {
        "plain": {"width": 64, "layers": 2, "residual": False, "batch_norm": False, "activation": "gelu",
                  "in_channels": 1, "out_channels": 1},
    },
    "fno": {
        "native-channel-mlp": {**PRESETS["tiny"].model_args["fno"], "backend": "native",
                               "channel_mlp": True, "lifting_ratio": 2},
        # the tiny preset's backend "auto" is neuralop when it imports: then check native too
        **({"native": {**PRESETS["tiny"].model_args["fno"], "backend": "native"}} if HAS_NEURALOP else {}),
    },
    "galerkin_transformer": {
        "pointwise": {"width": 16, "heads": 2, "layers": 1, "ffn_width": 32, "decoder": "pointwise",
                      "decoder_width": 16},
    },
    "unet": {
        "bilinear-padded": {"channels": 4, "levels": 3, "up": "bilinear", "activation": "gelu"},
    },
}

#: AdamW steps and learning rate per model (default 30 at 1e-2), chosen so that the relative L1
#: ends at 0.67 of its start or lower (every configuration, initialised with seeds 0 to 4),
#: against a threshold of 0.8. DeepONet (basis 16) and the 4-channel UNet and ResNet learn
#: slowly; MambaNO's output batch norm first has to reach the targets' scale.
TRAINING: dict[str, tuple[int, float]] = {
    "cno": (20, 1e-2),
    "deeponet": (300, 1e-2),
    "ffnn": (40, 1e-2),
    "fno": (40, 1e-2),
    "mambano": (40, 2e-2),
    "resnet": (100, 1e-2),
    "unet": (80, 2e-2),
}
DEFAULT_TRAINING = (30, 1e-2)
TRAINING_RATIO = 0.8

#: Which grids each known model takes: "any", "multiple" (sides divisible by its
#: ``size_multiple``) or "fixed" (only its ``resolution``). Not needed for a new model (its rule
#: is derived), but a listed model must still derive to its entry.
GRID_RULES: dict[str, str] = {
    "cno": "multiple", "mambano": "multiple", "deeponet": "fixed", "ffnn": "fixed",
    "fno": "any", "galerkin_transformer": "any", "unet": "any", "resnet": "any",
}

#: Parameters whose gradient is analytically zero in training mode, per model: FFNN's residual
#: block is ``act(x + BN2(L2(BN1(act(L1 x)))))`` (the reference's): BN2 removes any constant
#: shift, so L2's bias and BN1's bias (a shift that L2 maps to a constant) get none. They keep
#: their initial values, zeros. Listed so that every other parameter is still checked.
DEAD_BY_DESIGN: dict[str, re.Pattern[str]] = {
    "ffnn": re.compile(r"hidden\.\d+\.body\.[23]\.bias"),
}

#: Models that cannot run in float64; their gradients are checked in float32, only for > 0.
FLOAT32_ONLY: frozenset[str] = frozenset()
DEAD_GRADIENT = 1e-13  # float64: max |grad| below this counts as no gradient


def _constructor_params(name: str) -> list[inspect.Parameter]:
    """Keyword parameters of the model's constructor."""
    params = inspect.signature(model_class(name).__init__).parameters.values()
    return [p for p in params if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]


def _complete(name: str, sizes: dict[str, Any]) -> dict[str, Any]:
    """``sizes`` with the channels of the test batch and, for a model taking one, the grid."""
    args = {**IO, **sizes}
    if any(p.name == "resolution" for p in _constructor_params(name)):
        args.setdefault("resolution", GRID)
    return args


def _small_configs(name: str) -> dict[str, dict[str, Any]]:
    """Labelled small configurations of ``name``: the tiny preset's, then :data:`EXTRA_CONFIGS`."""
    configs: dict[str, dict[str, Any]] = {}
    if name in PRESETS["tiny"].model_args:
        configs["tiny"] = PRESETS["tiny"].model_args[name]
    configs.update(EXTRA_CONFIGS.get(name, {}))
    return {label: _complete(name, sizes) for label, sizes in configs.items()}


def _cases() -> list[Any]:
    """One pytest case per (model, configuration); a model without any gets one that fails."""
    cases = []
    for name in available_models():
        configs = _small_configs(name)
        if not configs:
            cases.append(pytest.param(name, None, id=f"{name}-no-small-configuration"))
        cases += [pytest.param(name, args, id=f"{name}-{label}") for label, args in configs.items()]
    return cases


CONTRACT = pytest.mark.parametrize(("name", "args"), _cases())


def _require(name: str, args: dict[str, Any] | None) -> dict[str, Any]:
    """``args``, or a failure telling the model's author where to add a small configuration."""
    if args is None:
        pytest.fail(
            f"model {name!r} is registered but has no small configuration for the model contract: "
            f"add its sizes to PRESETS['tiny'].model_args in mambano_core/studies/presets.py (16x16 "
            f"grids, seconds per epoch), or to EXTRA_CONFIGS in tests/test_model_contract.py"
        )
    return args


def _data(args: dict[str, Any], size: int = GRID) -> tuple[torch.Tensor, torch.Tensor]:
    """The shared smooth batch, cut to the configuration's channel counts.

    Its targets need both input channels; with one, they are the same formulas with the second
    channel replaced by the first, so that the targets stay a function of the input.
    """
    x, y = _batch(size)
    if args["in_channels"] == 1:
        x = x[:, :1]
        y = torch.cat([x * x, x.roll(1, -1) - x, (2 * x) ** 2], dim=1)
    return x, y[:, : args["out_channels"]]


def _train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int, lr: float) -> None:
    """``steps`` AdamW steps on the relative L1 of one batch, in training mode."""
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        _rel_l1(model(x), y).backward()
        opt.step()


def _to_float64(model: nn.Module) -> nn.Module:
    """``model`` in double precision: real tensors to float64, complex ones (FNO's spectral
    weights) to complex128; ``Module.double()`` leaves complex ones, ``.to(float64)`` drops their
    imaginary part."""
    model.double()
    for param in model.parameters():
        if param.is_complex():
            param.data = param.data.to(torch.complex128)
    return model


@dataclass(frozen=True)
class GridRule:
    """Which grids a model takes, derived from the model itself."""

    kind: str  # "any", "multiple" or "fixed"
    multiple: int = 1  # kind "multiple": sides must be divisible by this
    resolution: int = 0  # kind "fixed": the only side

    @classmethod
    def of(cls, model: nn.Module) -> "GridRule":
        """``size_multiple`` (CNO, MambaNO), or a ``resolution`` that the model does not resample
        its input to (DeepONet, FFNN): fixed; else any grid."""
        multiple = getattr(model, "size_multiple", None)
        if isinstance(multiple, int) and multiple > 1:
            return cls("multiple", multiple=multiple)
        resolution = getattr(model, "resolution", None)
        if isinstance(resolution, int) and not getattr(model, "resample_input", False):
            return cls("fixed", resolution=resolution)
        return cls("any")

    def second_grid(self) -> tuple[int, int]:
        """:data:`SECOND_GRID`, each side rounded up to the size multiple."""
        m = self.multiple
        return (-(-SECOND_GRID[0] // m) * m, -(-SECOND_GRID[1] // m) * m)

    def refused_grids(self) -> list[tuple[int, int]]:
        """Grids the model must refuse: the second grid (fixed only) and one side off the rule."""
        if self.kind == "fixed":
            return [SECOND_GRID, (self.resolution, self.resolution + 4)]
        if self.kind == "multiple":
            off = GRID + self.multiple // 2
            return [(off, GRID), (GRID, off)]
        return []

    def reason(self) -> str:
        """What a refusal's message must say besides the grid."""
        if self.kind == "fixed":
            return f"{self.resolution}x{self.resolution}"
        return f"divisible by {self.multiple}"


# ------------------------------------------------------------------------------ the contract


@CONTRACT
def test_output_shape_and_finite_in_train_and_eval(name: str, args: dict[str, Any] | None) -> None:
    """``(B, C_in, H, W) -> (B, C_out, H, W)`` with finite values, with batch statistics and
    dropout (training) and without (evaluation): both paths are used by the trainer."""
    args = _require(name, args)
    model = build_model(name, args)
    x, _ = _data(args)
    with torch.no_grad():
        for mode in ("train", "eval"):
            out = model.train(mode == "train")(x)
            assert out.shape == (x.shape[0], args["out_channels"], GRID, GRID), mode
            assert torch.isfinite(out).all(), mode


@CONTRACT
def test_adamw_steps_reduce_relative_l1(name: str, args: dict[str, Any] | None) -> None:
    """A few AdamW steps on one fixed smooth batch lower its relative L1 (training mode) to below
    0.8 of the start: the model can fit its data at all. Steps and rates per model
    (:data:`TRAINING`) leave a wide margin; the values are printed (``pytest -s``)."""
    args = _require(name, args)
    model = build_model(name, args).train()
    x, y = _data(args)
    steps, lr = TRAINING.get(name, DEFAULT_TRAINING)
    with torch.no_grad():
        before = _rel_l1(model(x), y).item()
    _train(model, x, y, steps, lr)
    with torch.no_grad():
        after = _rel_l1(model(x), y).item()
    print(f"\n{name} {args}: relative L1 {before:.3f} -> {after:.3f} ({after / before:.2f}x) "
          f"after {steps} AdamW steps at lr {lr:g}")
    assert after < TRAINING_RATIO * before, (before, after)


@CONTRACT
def test_every_parameter_gets_a_gradient(name: str, args: dict[str, Any] | None) -> None:
    """Every parameter gets a finite, non-zero gradient from one training-mode batch.

    Decided in float64: a parameter whose gradient is analytically zero (e.g. a bias right
    before batch norm, which cancels it) shows rounding noise, ~1e-18 in float64 but ~1e-9 in
    float32, where live gradients can be as small (MambaNO's ``dt_proj_weight``: 4e-10). In float64
    live ones at initialisation are >= 1e-10 here, so 1e-13 leaves three orders of magnitude on
    each side. Parameters dead by design (:data:`DEAD_BY_DESIGN`) must be exactly those dead.
    """
    args = _require(name, args)
    model = build_model(name, args).train()
    x, y = _data(args)
    if name in FLOAT32_ONLY:
        _rel_l1(model(x), y).backward()
        threshold = 0.0
    else:
        _rel_l1(_to_float64(model)(x.double()), y.double()).backward()
        threshold = DEAD_GRADIENT
    grads = {pname: p.grad for pname, p in model.named_parameters()}
    assert [p for p, g in grads.items() if g is None] == [], "parameters without a gradient"
    assert [p for p, g in grads.items() if not torch.isfinite(g).all()] == [], "non-finite gradients"
    dead = {p for p, g in grads.items() if g.abs().max().item() <= threshold}
    pattern = DEAD_BY_DESIGN.get(name)
    expected = {p for p in grads if pattern is not None and pattern.fullmatch(p)}
    live = sorted((g.abs().max().item(), p) for p, g in grads.items() if p not in dead)
    if live:
        print(f"\n{name}: smallest live max|grad| {live[0][0]:.1e} ({live[0][1]}); dead: {sorted(dead)}")
    assert dead == expected, f"dead: {sorted(dead - expected)}; expected dead but live: {sorted(expected - dead)}"


@CONTRACT
def test_checkpoint_round_trip_gives_identical_outputs(
    name: str, args: dict[str, Any] | None, tmp_path: Path
) -> None:
    """After two training steps (weights and batch-norm statistics off their initial values), a
    checkpoint written with the resolved arguments and read back rebuilds the same model: same
    class, same state, bit-identical evaluation outputs on every grid it takes. The resolved
    arguments name every constructor argument (so the checkpoint does not depend on today's
    defaults) and survive JSON unchanged."""
    args = _require(name, args)
    model = build_model(name, args)
    x, y = _data(args)
    _train(model, x, y, steps=2, lr=1e-3)
    model.eval()
    resolved = resolved_model_args(name, args)
    assert set(resolved) == {p.name for p in _constructor_params(name)}
    assert json.loads(json.dumps(resolved)) == resolved
    path = tmp_path / f"{name}.pt"
    data = {"benchmark": "contract", "resolution": GRID, "boundary": "dirichlet",
            "input_variable": "x", "output_variable": "y"}
    save_checkpoint(path, model=model, model_name=name, model_args=resolved, spec={},
                    normalization=Normalization.identity(), data=data)
    torch.manual_seed(123)  # the rebuilt model starts from other weights than the saved ones
    loaded = load_checkpoint(path, expect_model=name)
    rebuilt = loaded.model.eval()
    assert loaded.model_args == resolved and type(rebuilt) is type(model)
    saved, got = model.state_dict(), rebuilt.state_dict()
    assert saved.keys() == got.keys()
    assert [k for k in saved if not torch.equal(saved[k], got[k])] == []
    rule = GridRule.of(model)
    inputs = [x] + ([] if rule.kind == "fixed" else [torch.randn(2, args["in_channels"], *rule.second_grid())])
    with torch.no_grad():
        for inp in inputs:
            assert torch.equal(model(inp), rebuilt(inp)), tuple(inp.shape)


@CONTRACT
def test_second_grid_runs_or_is_refused_clearly(name: str, args: dict[str, Any] | None) -> None:
    """A model runs on a second, non-square grid (20x28, sides rounded up to its size multiple)
    with the right output shape, or, tied to its training grid, refuses it; a model with a
    size multiple or a fixed grid refuses a grid off its rule (one side at a time) with a
    ``ValueError`` (no other type, nothing from deep inside forward) whose message names the
    grid and the reason (the required multiple, or the training grid)."""
    args = _require(name, args)
    model = build_model(name, args).eval()
    rule = GridRule.of(model)
    if name in GRID_RULES:
        assert rule.kind == GRID_RULES[name], f"{name} derives grid rule {rule}, expected {GRID_RULES[name]!r}"
    if rule.kind != "fixed":
        grid = rule.second_grid()
        with torch.no_grad():
            out = model(torch.randn(2, args["in_channels"], *grid))
        assert out.shape == (2, args["out_channels"], *grid)
        assert torch.isfinite(out).all()
    for height, width in rule.refused_grids():
        with pytest.raises(ValueError) as caught:
            model(torch.randn(2, args["in_channels"], height, width))
        message = str(caught.value)
        assert f"{height}x{width}" in message and rule.reason() in message, message


@CONTRACT
def test_same_seed_builds_same_weights(name: str, args: dict[str, Any] | None) -> None:
    """Building under one seed twice gives identical state dicts and evaluation outputs (no
    unseeded randomness, e.g. in buffers outside the state dict); another seed gives other
    weights (the seed is what initialises them)."""
    args = _require(name, args)

    def build(seed: int) -> nn.Module:
        torch.manual_seed(seed)
        return build_model(name, args).eval()

    first, second, other = build(7), build(7), build(8)
    a, b, c = first.state_dict(), second.state_dict(), other.state_dict()
    assert a.keys() == b.keys() and [k for k in a if not torch.equal(a[k], b[k])] == []
    assert any(not torch.equal(a[k], c[k]) for k in a if a[k].is_floating_point() or a[k].is_complex())
    x, _ = _data(args)
    with torch.no_grad():
        assert torch.equal(first(x), second(x))
