"""The CLI's results tables: wide tables are split across several, never cut short."""

from __future__ import annotations

from io import StringIO

import pytest
from rich.console import Console

import mambano_cli.display as display
from mambano_core.evaluation.tables import ResultsTable

BENCHMARKS = ("poisson", "wave", "transport_smooth", "transport_discontinuous", "allen_cahn",
              "navier_stokes", "darcy", "airfoil")  # fmt: skip
MODELS = ("mambano", "cno", "fno", "deeponet", "galerkin_transformer", "unet", "resnet", "ffnn")


def _eight_by_eight() -> ResultsTable:
    headers = ["model"] + [f"{b} {split}" for b in BENCHMARKS for split in ("In", "Out")]
    rows = [[m] + [f"{100 * r + c + 0.25:.2f}" for c in range(1, len(headers))] for r, m in enumerate(MODELS)]
    return ResultsTable(headers, rows, best={(0, 1), (2, 16)})


def _printed(monkeypatch: pytest.MonkeyPatch, width: int) -> str:
    out = StringIO()
    monkeypatch.setattr(display, "console", Console(file=out, width=width, highlight=False))
    display.print_table(_eight_by_eight(), "median relative L1 error (%)")
    return out.getvalue()


def test_wide_table_is_split_into_tables_that_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    """8 benchmarks x In/Out on an 80-column terminal: every header and cell in full, no line too long."""
    text = _printed(monkeypatch, 80)
    table = _eight_by_eight()
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= 80
    for header in table.headers[1:]:
        assert header in text
    for row in table.rows:
        for cell in row:
            assert cell in text
    parts = text.count("┃ model")
    assert 3 <= parts <= len(BENCHMARKS) * 2
    # every model row is printed once per part, in the same order
    assert all(text.count(f"│ {m} ") == parts for m in MODELS)


def test_table_that_fits_stays_one_table(monkeypatch: pytest.MonkeyPatch) -> None:
    text = _printed(monkeypatch, 400)
    assert text.count("┃ model") == 1
    assert "…" not in text
