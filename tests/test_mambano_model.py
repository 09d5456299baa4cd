"""Checks of the MambaNO model (Zheng et al., NeurIPS 2024) and of its SS2D scan directions."""

from __future__ import annotations

import json
from typing import Any

import pytest
import torch
import torch.nn.functional as F

from mambano_core.layers.activations import AliasFreeLReLU, AliasFreeSiLU
from mambano_core.layers.ss2d import SS2D
from mambano_core.models.mambano import CONFIGURATIONS, MambaNO
from mambano_core.models.registry import available_models, build_model, count_parameters
from mambano_core.ops.scan.loop import selective_scan_loop

F64 = torch.float64
# Small enough for the sequential reference scan; every architectural part is present.
TINY: dict[str, Any] = {
    "in_channels": 2,
    "out_channels": 3,
    "channels": 4,
    "depths": [1, 1, 1, 1],
    "d_state": 4,
    "lift_channels": 8,
}


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def _smooth_batch(size: int, batch: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """Smooth two-channel inputs and a three-channel target depending on them non-locally."""
    g = torch.Generator().manual_seed(1)
    t = torch.linspace(0, 2 * torch.pi, size)
    coeffs = torch.randn(batch, 2, 2, generator=g)
    x = torch.stack(
        [coeffs[:, c, 0, None, None] * torch.sin(t)[None, :, None] * torch.cos(t)[None, None, :]
         + coeffs[:, c, 1, None, None] * torch.cos(2 * t)[None, None, :] for c in range(2)],
        dim=1,
    )
    mean = x.mean(dim=(2, 3), keepdim=True)
    product, running = x[:, :1] * x[:, 1:], x[:, :1].cumsum(-1) / size
    y = torch.cat([product, running, mean[:, 1:].expand_as(product)], dim=1)
    return x, y


# ------------------------------------------------------------------------------ model


def test_registered_with_json_arguments():
    assert "mambano" in available_models()
    model = build_model("mambano", json.loads(json.dumps(TINY)))
    assert isinstance(model, MambaNO)


@pytest.mark.parametrize("size", [32, 64, 96, 128])
def test_one_model_runs_at_every_resolution(size):
    model = build_model("mambano", TINY).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 2, size, size))
    assert out.shape == (1, 3, size, size) and torch.isfinite(out).all()


def test_non_square_grid():
    model = build_model("mambano", TINY).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 2, 16, 40)).shape == (2, 3, 16, 40)


@pytest.mark.parametrize("shape", [(1, 2, 36, 32), (1, 2, 32, 20), (1, 1, 32, 32), (2, 32, 32)])
def test_invalid_inputs_are_rejected(shape):
    model = build_model("mambano", TINY)
    with pytest.raises(ValueError):
        model(torch.randn(*shape))


def test_training_steps_reduce_the_loss():
    model = build_model("mambano", TINY)
    x, y = _smooth_batch(16)
    opt = torch.optim.AdamW(model.parameters(), lr=5e-3, weight_decay=1e-6)
    losses = []
    for _ in range(8):
        opt.zero_grad()
        loss = (model(x) - y).abs().mean() / y.abs().mean()  # the paper's relative L1
        loss.backward()
        opt.step()
        losses.append(loss.item())
    print(f"\nrelative L1 over 8 steps: {losses[0]:.3f} -> {losses[-1]:.3f}")
    assert losses[-1] < 0.6 * losses[0]


def test_every_parameter_receives_a_gradient():
    """In float64 a parameter with an analytically zero gradient (e.g. a conv bias right before
    batch norm) shows ~1e-18; live ones at initialisation are >= 1e-10."""
    model = build_model("mambano", {**TINY, "depths": [2, 2, 2, 2], "drop_path": 0.1}).double()
    x, y = _smooth_batch(16, batch=2)
    F.mse_loss(model(x.double()), y.double()).backward()
    dead = [n for n, p in model.named_parameters() if p.grad is None or p.grad.abs().max() < 1e-13]
    assert dead == []


def test_state_dict_round_trip_gives_identical_outputs():
    model = build_model("mambano", TINY)
    x, y = _smooth_batch(16, batch=2)
    opt = torch.optim.SGD(model.parameters(), lr=1e-2)
    for _ in range(2):  # move weights and BatchNorm statistics away from their initial values
        opt.zero_grad()
        F.mse_loss(model(x), y).backward()
        opt.step()
    model.eval()
    rebuilt = build_model("mambano", json.loads(json.dumps(TINY)))
    rebuilt.load_state_dict(model.state_dict())
    rebuilt.eval()
    with torch.no_grad():
        assert torch.equal(model(x), rebuilt(x))


def test_drop_path_is_stochastic_in_training_only():
    model = build_model("mambano", {**TINY, "drop_path": 0.5})
    x, _ = _smooth_batch(16, batch=2)
    with torch.no_grad():
        assert not torch.equal(model(x), model(x))  # training: random branches dropped
        model.eval()
        assert torch.equal(model(x), model(x))


def test_scan_backends_agree_inside_the_model():
    """The stacked four-direction call is valid for every CPU backend (loop is the oracle)."""
    reference = build_model("mambano", {**TINY, "scan_backend": "loop"}).eval()
    x, _ = _smooth_batch(16, batch=2)
    with torch.no_grad():
        want = reference(x)
        for backend in ("torch", "auto"):
            model = build_model("mambano", {**TINY, "scan_backend": backend}).eval()
            model.load_state_dict(reference.state_dict())
            torch.testing.assert_close(model(x), want, atol=1e-4, rtol=1e-4)


def test_reduced_precision_autocast():
    model = build_model("mambano", TINY)
    x, y = _smooth_batch(16, batch=2)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x)
    assert out.shape == y.shape and torch.isfinite(out).all()
    F.mse_loss(out.float(), y).backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize(("channels", "low", "high"), [(16, 1.5e6, 2.5e6), (32, 5.5e6, 8.0e6)])
def test_parameter_counts_are_sane(channels, low, high):
    """C=16: 1.85 M, C=32: 6.52 M (the authors' code carries ~1.18 M / 4.73 M more, unused)."""
    count = count_parameters(MambaNO(channels=channels))
    print(f"\nMambaNO C={channels}: {count:,} parameters")
    assert low < count < high


# ------------------------------------------------------------------- SS2D directions


def _direction_orders(h: int, w: int) -> list[torch.Tensor]:
    """Grid indices (row-major numbering) in the order each direction visits them."""
    rows = torch.arange(h * w)
    cols = rows.view(h, w).t().flatten()
    return [rows, cols, rows.flip(0), cols.flip(0)]


def _scan_reference(ss2d: SS2D, x: torch.Tensor) -> torch.Tensor:
    """Each direction scanned on its own with its own parameters, scattered back and summed."""
    b, d, h, w = x.shape
    flat, out = x.flatten(2), torch.zeros_like(x.flatten(2))
    r, n = ss2d.dt_rank, ss2d.d_state
    for k, order in enumerate(_direction_orders(h, w)[: ss2d.directions]):
        seq = flat[:, :, order]  # (B, d, L)
        proj = torch.einsum("cd,bdl->bcl", ss2d.x_proj_weight[k], seq)
        dt = torch.einsum("dr,brl->bdl", ss2d.dt_proj_weight[k], proj[:, :r])
        y = selective_scan_loop(
            seq, dt, -torch.exp(ss2d.A_log[k]), proj[:, r : r + n], proj[:, r + n :], ss2d.D[k],
            delta_bias=ss2d.dt_proj_bias[k], delta_softplus=True,
        )
        out[:, :, order] += y
    return out.view(b, d, h, w)


def _share_direction_parameters(ss2d: SS2D) -> None:
    with torch.no_grad():
        for p in (ss2d.x_proj_weight, ss2d.dt_proj_weight, ss2d.dt_proj_bias, ss2d.A_log, ss2d.D):
            p.copy_(p[:1].expand_as(p))


def _ss2d(d_model: int = 4, directions: int = 4) -> SS2D:
    return SS2D(d_model, d_state=4, directions=directions, scan_backend="loop").double()


@pytest.mark.parametrize("directions", [4, 2, 1])
def test_scan_equals_four_independent_directions(directions):
    """One stacked scan call == the four orders (row, column, reversed) each with its own
    parameters; with fewer directions, the first of them (row; row and column)."""
    ss2d = _ss2d(directions=directions)
    x = torch.randn(2, ss2d.d_inner, 3, 5, dtype=F64)  # non-square: catches H/W mix-ups
    with torch.no_grad():
        torch.testing.assert_close(ss2d.scan(x), _scan_reference(ss2d, x))


def test_shared_parameters_make_the_scan_equivariant():
    """With the four directions sharing parameters, SS2D commutes with the symmetries that permute
    {row, column, reversed row, reversed column}: transposition and 180-degree rotation. Dropping
    or duplicating a direction, or mapping one back wrongly, breaks this."""
    ss2d = _ss2d()
    _share_direction_parameters(ss2d)
    x = torch.randn(2, ss2d.d_inner, 5, 5, dtype=F64)
    with torch.no_grad():
        y = ss2d.scan(x)
        torch.testing.assert_close(ss2d.scan(x.transpose(2, 3)), y.transpose(2, 3))
        torch.testing.assert_close(ss2d.scan(x.flip(2, 3)), y.flip(2, 3))
        assert not torch.allclose(ss2d.scan(x.flip(3)), y.flip(3), atol=1e-3)  # not a symmetry


def test_shared_parameters_make_the_whole_block_equivariant():
    """The full SS2D (conv, alias-free activations, gate) inherits the symmetry when its
    depthwise kernel is symmetric too; the alias-free filters are transpose/flip symmetric."""
    ss2d = _ss2d()
    _share_direction_parameters(ss2d)
    with torch.no_grad():
        k = ss2d.conv2d.weight
        k.copy_((k + k.transpose(2, 3) + k.flip(2, 3) + k.flip(2, 3).transpose(2, 3)) / 4)
        x = torch.randn(2, 8, 8, 4, dtype=F64)  # channels-last
        y = ss2d(x)
        torch.testing.assert_close(ss2d(x.transpose(1, 2)), y.transpose(1, 2))
        torch.testing.assert_close(ss2d(x.flip(1, 2)), y.flip(1, 2))


def test_directions_have_distinct_parameters():
    """At initialisation each direction has its own parameters, so the symmetry is broken and
    every direction changes the output."""
    ss2d = _ss2d()
    x = torch.randn(2, ss2d.d_inner, 5, 5, dtype=F64)
    with torch.no_grad():
        y = ss2d.scan(x)
        gap = (ss2d.scan(x.transpose(2, 3)) - y.transpose(2, 3)).abs().max().item()
        assert gap > 1e-3
        for k in range(4):
            probe = _ss2d()
            probe.load_state_dict(ss2d.state_dict())
            probe.x_proj_weight[k].zero_()
            probe.D[k].zero_()  # direction k now contributes nothing
            assert (probe.scan(x) - y).abs().max().item() > 1e-3


# ------------------------------------------------------------------- configurations


def _drop_rates(model: MambaNO) -> tuple[list[float], list[float]]:
    """DropPath probabilities of the encoder (level 0 first) and decoder (bottom level first)."""
    enc = [b.drop_path.p for stage in model.encoder for b in stage.blocks]
    dec = [b.drop_path.p for stage in reversed(model.decoder) for b in stage.blocks]
    return enc, dec


def _projection_input(model: MambaNO, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """What enters Q, what the last decoder stage gives and the level-0 skip, in one pass."""
    seen: dict[str, torch.Tensor] = {}
    hooks = [
        model.project.register_forward_pre_hook(lambda m, inp: seen.__setitem__("q", inp[0])),
        model.decoder[0].register_forward_hook(lambda m, inp, out: seen.__setitem__("decoder", out)),
        model.conv_blocks[0].register_forward_hook(lambda m, inp, out: seen.__setitem__("skip0", out)),
    ]
    with torch.no_grad():
        model.eval()(x)
    for hook in hooks:
        hook.remove()
    return seen


def test_the_default_is_the_authors_network():
    """MambaNOModule.py: Q reads the last decoder stage only (skip_list[0] is never read), ends
    with BatchNorm2d(out) (CNO2d_classic's LiftProjectBlock), DropPath torch.linspace(0, 0.1, 8)
    over the encoder and reversed over the decoder (bottom level first), depths[l] convolution
    blocks at level l."""
    from mambano_core.models.mambano import CONFIGURATIONS, configuration_name
    from mambano_core.models.registry import resolved_model_args

    model = MambaNO()
    assert configuration_name(resolved_model_args("mambano", {})) == "authors" and CONFIGURATIONS["authors"] == {}
    assert isinstance(model.project.norm2, torch.nn.BatchNorm2d) and model.project.norm2.num_features == 1
    assert model.output_norm is model.project.norm2 and model.project.conv2.bias is None
    enc, dec = _drop_rates(model)
    want = torch.linspace(0, 0.1, 8).tolist()
    assert enc == pytest.approx(want) and dec == pytest.approx(want[::-1])
    tiny = build_model("mambano", TINY)
    seen = _projection_input(tiny, _smooth_batch(16, batch=2)[0])
    assert torch.equal(seen["q"], seen["decoder"])
    uneven = MambaNO(channels=4, depths=[1, 2, 3, 2], lift_channels=8)  # N_res = depths in their code
    assert [len(level) for level in uneven.conv_blocks] == [1, 2, 3, 2]


#: The per-direction parameters of SS2D (leading axis: one entry per scan direction).
PER_DIRECTION = ("x_proj_weight", "dt_proj_weight", "dt_proj_bias", "A_log", "D")


def _expected_key_changes(changes: dict[str, Any], keys: list[str]) -> tuple[set[str], set[str]]:
    """State-dict keys of the authors' network (``keys``) that ``changes`` remove, and keys it adds."""
    removed: set[str] = set()
    added: set[str] = set()
    if changes.get("project_norm") is False:  # Q's conv gets its bias back, the last BN goes
        removed |= {k for k in keys if k.startswith("project.norm2.")}
        added.add("project.conv2.bias")
    if changes.get("mamba_integration") is False:
        removed |= {k for k in keys if k.startswith(("encoder.", "decoder."))}
    if changes.get("conv_depth") == 0:
        removed |= {k for k in keys if k.startswith("conv_blocks.")}
    return removed, added


@pytest.mark.parametrize("name", [name for name in CONFIGURATIONS if name != "authors"])
def test_each_configuration_differs_from_the_authors_only_in_what_it_names(name):
    from mambano_core.models.mambano import configuration_name
    from mambano_core.models.registry import resolved_model_args

    changes = CONFIGURATIONS[name]
    assert configuration_name(resolved_model_args("mambano", {**TINY, **changes})) == name
    torch.manual_seed(0)
    authors = build_model("mambano", {**TINY, "depths": [2, 2, 2, 2]})
    torch.manual_seed(0)
    variant = build_model("mambano", {**TINY, "depths": [2, 2, 2, 2], **changes})
    a, v = authors.state_dict(), variant.state_dict()
    assert (set(a) - set(v), set(v) - set(a)) == _expected_key_changes(changes, list(a))
    assert (variant.output_norm is None) == (changes.get("project_norm") is False)
    shared = [k for k in a if k in v]
    reshaped = {k for k in shared if a[k].shape != v[k].shape}
    directions = changes.get("scan_directions", 4)
    assert reshaped == ({k for k in shared if k.rsplit(".", 1)[-1] in PER_DIRECTION} if directions != 4 else set())
    assert all(torch.equal(v[k], a[k][:directions]) for k in reshaped)  # the first directions' weights
    assert all(torch.equal(a[k], v[k]) for k in shared if k not in reshaped)  # same initialisation elsewhere
    alias_free = any(isinstance(m, (AliasFreeLReLU, AliasFreeSiLU)) for m in variant.modules())
    assert alias_free == (changes.get("activation", "alias_free") == "alias_free")
    enc, dec = _drop_rates(variant)
    if changes.get("mamba_integration") is False:
        assert enc == dec == []
    elif "drop_path" in changes:
        assert set(enc + dec) == {changes["drop_path"]}
    else:
        assert (enc, dec) == _drop_rates(authors)
    x = _smooth_batch(16, batch=2)[0]
    seen = _projection_input(variant, x)
    if changes.get("level0_skip"):
        torch.testing.assert_close(seen["q"], seen["decoder"] + seen["skip0"])
    else:
        assert torch.equal(seen["q"], seen["decoder"])


def test_a_checkpoint_of_version_0_1_loads_as_the_network_it_holds(tmp_path):
    """0.1 stored every argument it had; the level-0 skip and the output norm did not exist, and
    its network had the skip and no output norm. It must not load as today's default."""
    from mambano_core.data.normalization import Normalization
    from mambano_core.models.registry import resolved_model_args
    from mambano_core.training.checkpoint import load_checkpoint, save_checkpoint

    old = build_model("mambano", {**TINY, "level0_skip": True, "project_norm": False, "drop_path": 0.0})
    args_0_1 = {k: v for k, v in resolved_model_args("mambano", {**TINY, "drop_path": 0.0}).items()
                if k not in ("level0_skip", "project_norm")}
    norm = Normalization(0.0, 1.0, 0.0, 1.0)
    data = {"benchmark": "poisson", "resolution": 16, "boundary": "dirichlet", "input_variable": "f",
            "output_variable": "u"}
    save_checkpoint(tmp_path / "old.pt", model=old, model_name="mambano", model_args=args_0_1, spec={},
                    normalization=norm, data=data)
    loaded = load_checkpoint(tmp_path / "old.pt")
    assert loaded.model.level0_skip and loaded.model.output_norm is None
    x = _smooth_batch(16, batch=2)[0]
    with torch.no_grad():
        assert torch.equal(loaded.model.eval()(x), old.eval()(x))


def test_a_checkpoint_written_before_the_ablation_arguments_resumes():
    """Stored arguments lacking mamba_integration, activation and scan_directions (every run
    before they existed) complete to what the spec resolves to today, as ``--resume`` requires
    (training/resume.py compares the two), and build the same network."""
    from mambano_core.models.registry import resolved_model_args, stored_model_args

    new = ("mamba_integration", "activation", "scan_directions")
    today = resolved_model_args("mambano", TINY)
    before = {k: v for k, v in today.items() if k not in new}
    assert set(today) - set(before) == set(new)
    assert stored_model_args("mambano", before) == today
