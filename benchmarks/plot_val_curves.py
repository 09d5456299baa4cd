"""Validation curves of several runs side by side, one panel per group (docs/results.md figures).

    python benchmarks/plot_val_curves.py --out docs/recalibration_curves.png \
        --panel "MambaNO, Poisson" "stale statistics=reproduce/stale/runs/poisson-mambano" \
                                   "recalibrated=reproduce/cpu-small/runs/poisson-mambano" \
        --panel "CNO, Poisson" ...

Each ``LABEL=RUN_DIR`` draws the run's validation mean relative L1 (%) per epoch from its
``metrics.jsonl``, with its selected (best) epoch marked, and its training loss (x100, dashed).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mambano_core.training.run_dir import RunDir


def plot(panels: list[tuple[str, list[tuple[str, Path]]]], out: Path) -> None:
    """One panel per (title, [(label, run_dir), ...]); written to ``out`` as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.8), squeeze=False)
    for ax, (title, runs) in zip(axes[0], panels):
        for i, (label, run) in enumerate(runs):
            records = RunDir(run).metrics()
            epochs = [r["epoch"] for r in records]
            colour = f"C{i}"
            ax.semilogy(epochs, [r["val_rel_l1_mean"] for r in records], color=colour, label=f"{label}: validation")
            ax.semilogy(epochs, [100 * r["train_loss"] for r in records], color=colour, ls="--", alpha=0.6,
                        label=f"{label}: training loss x100")
            best = min(records, key=lambda r: r["val_rel_l1_mean"])
            ax.plot([best["epoch"]], [best["val_rel_l1_mean"]], "o", color=colour, ms=7, mfc="none")
        ax.set_title(title)
        ax.set_xlabel("epoch (circle: selected best)")
        ax.set_ylabel("relative L1 (%)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--panel", nargs="+", action="append", required=True, metavar="TITLE LABEL=RUN",
                        help="a panel title followed by LABEL=RUN_DIR entries")
    args = parser.parse_args()
    panels = []
    for title, *entries in args.panel:
        runs = [(label, Path(path)) for label, _, path in (entry.partition("=") for entry in entries)]
        panels.append((title, runs))
    plot(panels, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
