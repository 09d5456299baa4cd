"""MambaNO: the alias-free Mamba neural operator (Zheng et al., NeurIPS 2024)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn

from mambano_core.layers.activations import check_activation
from mambano_core.layers.conv_integration import ConvIntegration
from mambano_core.layers.lift_project import LiftProject
from mambano_core.layers.mamba_integration import MambaStage
from mambano_core.layers.resample_block import ResampleBlock
from mambano_core.models._args import check_grid_input
from mambano_core.ops.cross_scan import DIRECTION_COUNTS
from mambano_core.ops.filters import FilterConfig

#: Named variants of the network, as model arguments over the defaults (the authors' code).
#: Each differs from ``authors`` only in what its name says; tables and studies cite these names.
CONFIGURATIONS: dict[str, dict[str, Any]] = {
    "authors": {},
    "figure-skip": {"level0_skip": True},
    "no-output-norm": {"project_norm": False},
    "no-drop-path": {"drop_path": 0.0},
    # mambano 0.1's default: the figure's level-0 skip, no output batch norm, no stochastic depth.
    "v0.1": {"level0_skip": True, "project_norm": False, "drop_path": 0.0},
    # Ablations: one component of the network removed or replaced each.
    "no-mamba": {"mamba_integration": False},
    "no-conv": {"conv_depth": 0},
    "pointwise-activations": {"activation": "pointwise"},
    "one-direction": {"scan_directions": 1},
    "two-directions": {"scan_directions": 2},
}


def _drop_path_rates(depths: Sequence[int], rate: float, decoder: bool = False) -> list[list[float]]:
    """Per-level stochastic-depth rates, linear from 0 to ``rate`` over all blocks (VMamba's rule).

    The encoder's rates rise with depth in execution order (level 0 first); the decoder runs
    from the bottom level up and gets the same rates in reverse, so its first block has ``rate``.
    """
    total = sum(depths)
    flat = [rate * i / (total - 1) if total > 1 else 0.0 for i in range(total)]
    order = list(range(len(depths)))
    if decoder:
        flat, order = flat[::-1], order[::-1]
    out: list[list[float]] = [[] for _ in depths]
    start = 0
    for level in order:
        out[level] = flat[start : start + depths[level]]
        start += depths[level]
    return out


class MambaNO(nn.Module):
    """Alias-free Mamba neural operator (Zheng, Li, Xu, Zhu, Lin, Zhang, NeurIPS 2024).

    "Alias-Free Mamba Neural Operator", OpenReview gUEBXGV8JM. A U-Net of operators on
    band-limited functions: lift ``P``, an encoder whose levels apply convolution integration
    (local, CNO residual blocks) then Mamba integration (global, a four-direction selective scan,
    O(N) in the number of grid points), alias-free down- and upsampling, a decoder of
    Mamba-integration blocks with additive skips, and projection ``Q``. All activations are
    alias-free, and every filter is designed for the grid of the call, so a trained model runs
    natively at any resolution divisible by ``2**(levels - 1)``.

    The defaults are the network of the authors' code (weili419/Mamba-Neural-Operator,
    ``MambaNOModule.py``), which is the reference where it and the paper's figure disagree:

    - no level-0 skip: the figure draws one before ``Q``, but the code's forward pass never
      reads ``skip_list[0]`` (``level0_skip=True`` adds the figure's);
    - ``Q`` is CNO's ``LiftProjectBlock`` with batch norm on, so it ends with
      ``BatchNorm2d(out_channels)`` (``project_norm=False`` leaves it out, as the figure and our
      releases before 0.2 did);
    - stochastic depth with ``drop_path_rate=0.1``: linear from 0 over the encoder's Mamba
      blocks and mirrored in the decoder.

    The final batch norm standardises the prediction over the batch in training mode, so with
    its default affine (weight 1, bias 0) a short run spends many steps moving it to the
    targets' scale; the trainer starts it from the training targets' statistics
    (``training.init_output_norm``, docs/baselines.md). :data:`CONFIGURATIONS` names the
    variants.

    The ablation arguments ``mamba_integration``, ``conv_depth=0``, ``activation`` and
    ``scan_directions`` each remove or replace one component of the paper's network (Zheng et al.,
    NeurIPS 2024: Mamba integration, convolution integration, alias-free activations, the
    four-direction scan) and keep every other part, its parameters and their initial weights.

    Parameters
    ----------
    in_channels, out_channels
        Channels of the input and output functions.
    channels
        Width ``C`` of level 0; level ``l`` has ``C * 2**l`` channels (authors: 16 or 32).
    depths
        Mamba-integration blocks per level, in the encoder and again in the decoder; its length
        is the number of levels (4 in the paper).
    d_state
        State size of the selective scan.
    expand
        Inner width of SS2D over its input width.
    lift_channels
        Latent width of the lift and projection.
    drop_path
        Largest stochastic-depth rate (linear in depth, encoder increasing, decoder mirrored);
        the authors' ``drop_path_rate`` 0.1.
    scan_backend
        Backend of :func:`mambano_core.ops.scan.selective_scan_fn`.
    filter_size, lrelu_upsampling, half_width_mult, cutoff_den
        Alias-free filter hyperparameters (CNO's defaults).
    conv_depth
        Convolution-integration blocks per encoder level; ``None`` (default) gives level ``l``
        ``depths[l]`` of them, as the authors' code does (``N_res = depths``). ``0`` removes the
        convolution integration (the ``no-conv`` ablation): the lift's output goes straight to
        the level-0 Mamba blocks and each downsampling block's output to the next level's, and
        the skips carry those tensors.
    level0_skip
        Add the level-0 skip (the output of the first convolution blocks) before the projection,
        as the paper's figure draws it; the authors' code does not.
    project_norm
        End the projection with ``BatchNorm2d(out_channels)``, as the authors' code does.
    mamba_integration
        ``False`` removes every Mamba-integration block, in the encoder and in the decoder (the
        ``no-mamba`` ablation): the network runs no selective scan; lift, convolution
        integration, down- and upsampling, additive skips and projection stay.
    activation
        ``"alias_free"`` (default): CNO's alias-free leaky ReLU in the lift, the projection, the
        convolution integration, SS2D and the resampling blocks, and the alias-free SiLU gate in
        SS2D. ``"pointwise"`` (the ablation): the same leaky ReLU (slope 0.2, gain sqrt 2, the
        learnable bias) applied pointwise on the same grid, a plain SiLU gate, and the
        resampling blocks change the grid by 2x2 average pooling (down) and nearest-neighbour
        copies (up), after the activation; no parameter changes.
    scan_directions
        Directions of every SS2D scan: 4 (default; row- and column-major, both reversed), 2
        (row- and column-major) or 1 (row-major only), with one set of ``x_proj``, ``dt_proj``,
        ``A_log`` and ``D`` per direction.
    """

    #: Arguments added after 0.1, with the values that rebuild the network a checkpoint written
    #: before them holds (its stored arguments lack them). The ablation arguments' are their
    #: defaults; listing them makes a run started before them resume (``--resume`` compares the
    #: stored arguments, completed from here, with the spec's resolved ones).
    ARGS_BEFORE_ADDED: dict[str, Any] = {
        "level0_skip": True,
        "project_norm": False,
        "mamba_integration": True,
        "activation": "alias_free",
        "scan_directions": 4,
    }

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        channels: int = 16,
        depths: Sequence[int] = (2, 2, 2, 2),
        d_state: int = 16,
        expand: int = 2,
        lift_channels: int = 64,
        drop_path: float = 0.1,
        scan_backend: str = "auto",
        filter_size: int = 6,
        lrelu_upsampling: int = 2,
        half_width_mult: float = 0.8,
        cutoff_den: float = 2.0001,
        conv_depth: int | None = None,
        level0_skip: bool = False,
        project_norm: bool = True,
        mamba_integration: bool = True,
        activation: str = "alias_free",
        scan_directions: int = 4,
    ) -> None:
        super().__init__()
        depths = [int(d) for d in depths]
        if not depths or min(depths) < 0:
            raise ValueError(f"depths must be a non-empty list of non-negative ints, got {depths}")
        if conv_depth is not None and conv_depth < 0:
            raise ValueError(f"conv_depth must be a non-negative int or null, got {conv_depth}")
        conv_depths = depths if conv_depth is None else [conv_depth] * len(depths)
        if min(in_channels, out_channels, channels, lift_channels, d_state, expand) < 1:
            raise ValueError("channel counts, d_state and expand must be positive")
        if isinstance(scan_directions, bool) or scan_directions not in DIRECTION_COUNTS:
            raise ValueError(f"scan_directions must be one of {DIRECTION_COUNTS}, got {scan_directions!r}")
        if not isinstance(mamba_integration, bool):
            raise ValueError(f"mamba_integration must be true or false, got {mamba_integration!r}")
        act = check_activation(activation)
        cfg = FilterConfig(filter_size, lrelu_upsampling, half_width_mult, cutoff_den)
        self.levels = len(depths)
        self.in_channels, self.out_channels = in_channels, out_channels
        widths = [channels * 2**i for i in range(self.levels)]
        enc_rates = _drop_path_rates(depths, drop_path)
        dec_rates = _drop_path_rates(depths, drop_path, decoder=True)

        # A part an ablation leaves out is still built (and dropped), so that the random stream,
        # and with it every kept layer's initial weights, is the default network's.
        def stage(width: int, rates: list[float]) -> MambaStage:
            built = MambaStage(width, rates, d_state, expand, cfg, scan_backend, scan_directions, act)
            return built if mamba_integration else MambaStage(width, [])

        def conv_stack(width: int, default: int, kept: int) -> nn.Sequential:
            blocks = [ConvIntegration(width, cfg, act) for _ in range(max(default, kept))]
            return nn.Sequential(*blocks[:kept])

        self.lift = LiftProject(in_channels, channels, lift_channels, final_norm=True, config=cfg, activation=act)
        self.conv_blocks = nn.ModuleList(conv_stack(*level) for level in zip(widths, depths, conv_depths))
        self.encoder = nn.ModuleList(stage(w, r) for w, r in zip(widths, enc_rates))
        pairs = list(zip(widths[:-1], widths[1:]))  # (fine, coarse) widths of adjacent levels
        self.down = nn.ModuleList(ResampleBlock(fine, coarse, 0.5, cfg, act) for fine, coarse in pairs)
        self.up = nn.ModuleList(ResampleBlock(coarse, fine, 2.0, cfg, act) for fine, coarse in pairs)
        self.decoder = nn.ModuleList(stage(w, r) for w, r in zip(widths, dec_rates))
        self.project = LiftProject(
            channels, out_channels, lift_channels, final_norm=project_norm, config=cfg, activation=act
        )
        self.level0_skip = bool(level0_skip)

    @property
    def output_norm(self) -> nn.BatchNorm2d | None:
        """The batch norm that the prediction leaves the network through, if there is one."""
        norm = self.project.norm2
        return norm if isinstance(norm, nn.BatchNorm2d) else None

    @staticmethod
    def configuration_name(args: dict[str, Any]) -> str | None:
        """The name in :data:`CONFIGURATIONS` that ``args`` build (see :func:`configuration_name`)."""
        return configuration_name(args)

    @property
    def size_multiple(self) -> int:
        """Grid sizes must be multiples of this (one halving per level below the top)."""
        return 2 ** (self.levels - 1)

    def _check_input(self, x: Tensor) -> None:
        why = f"MambaNO with {self.levels} levels halves the grid {self.levels - 1} times"
        check_grid_input(x, self.in_channels, self.size_multiple, why)

    def forward(self, x: Tensor) -> Tensor:
        """Map ``(B, in_channels, H, W)`` to ``(B, out_channels, H, W)``."""
        self._check_input(x)
        x = self.lift(x)
        skips: list[Tensor] = []
        for level in range(self.levels):
            x = self.conv_blocks[level](x)
            skips.append(x)
            x = self.encoder[level](x)
            if level < self.levels - 1:
                x = self.down[level](x)
        x = self.decoder[-1](x)
        for level in reversed(range(self.levels - 1)):
            x = self.decoder[level](self.up[level](x + skips[level + 1]))
        return self.project(x + skips[0] if self.level0_skip else x)



_VARIANT_KEYS = (
    "level0_skip", "project_norm", "drop_path", "mamba_integration", "conv_depth", "activation", "scan_directions",
)


def configuration_name(args: dict[str, Any]) -> str | None:
    """The name in :data:`CONFIGURATIONS` that MambaNO arguments ``args`` build, if any.

    Only the keys the configurations vary are compared (not sizes); missing keys take the
    constructor's defaults.
    """
    import inspect

    defaults = {key: inspect.signature(MambaNO.__init__).parameters[key].default for key in _VARIANT_KEYS}
    variant = {key: args.get(key, defaults[key]) for key in _VARIANT_KEYS}
    for name, changes in CONFIGURATIONS.items():
        if variant == {**defaults, **changes}:
            return name
    return None
