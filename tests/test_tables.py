"""Results tables: rows per model, best per column, IQR, published rows kept apart."""

from __future__ import annotations

from mambano_core.evaluation.evaluate import RunEvaluation
from mambano_core.scoring import SplitScore
from mambano_core.evaluation.tables import build_table


def _ev(run: str, model: str, bench: str, median_in: float, median_out: float) -> RunEvaluation:
    scores = {"in": SplitScore(median_in, median_in - 1, median_in + 1, median_in, 8),
              "out": SplitScore(median_out, median_out - 1, median_out + 2, median_out, 8)}
    return RunEvaluation(run, f"runs/{run}", model, bench, 10, 64, 64, "native", scores)


def test_rows_per_model_columns_per_benchmark_and_best_marked() -> None:
    evs = [_ev("p-cno", "cno", "poisson", 1.0, 3.0), _ev("p-fno", "fno", "poisson", 2.0, 2.5),
           _ev("w-cno", "cno", "wave", 4.0, 5.0)]
    table = build_table(evs, ood=True)
    assert table.headers == ["model", "poisson In", "poisson Out", "wave In", "wave Out"]
    assert table.rows == [["cno", "1.00", "3.00", "4.00", "5.00"], ["fno", "2.00", "2.50", "-", "-"]]
    assert table.best == {(0, 1), (1, 2)}  # a column with a single score has no winner
    assert "| **1.00** |" in table.to_markdown().replace("| cno ", "")


def test_two_runs_of_one_model_on_one_benchmark_get_their_run_names() -> None:
    table = build_table([_ev("seed0", "cno", "poisson", 1, 2), _ev("seed1", "cno", "poisson", 3, 4)], ood=False)
    assert [row[0] for row in table.rows] == ["seed0", "seed1"]
    assert table.headers == ["model", "poisson In"]


def test_stats_and_reference_rows() -> None:
    table = build_table([_ev("a", "cno", "poisson", 1, 2), _ev("b", "fno", "poisson", 3, 4)], ood=True,
                        stats=True, reference=True)
    assert table.rows[0][1] == "1.00 [0.00, 2.00]"
    published = {row[0]: row[1:] for row in table.rows if row[0].startswith("published: ")}
    assert published["published: CNO"] == ["0.21", "0.27"]
    assert all(r < 2 for r, _ in table.best)  # published rows never win
    assert "not comparable" in table.to_markdown()


def test_rows_name_the_configuration_of_models_that_have_named_variants() -> None:
    authors, old = _ev("p-a", "mambano", "poisson", 1, 2), _ev("p-old", "mambano", "poisson", 3, 4)
    authors.configuration, old.configuration = "authors", "v0.1"
    table = build_table([authors, old, _ev("p-cno", "cno", "poisson", 2, 3)], ood=False)
    assert [row[0] for row in table.rows] == ["mambano (authors)", "mambano (v0.1)", "cno"]


def test_evaluation_records_the_configuration_from_the_checkpoint_args() -> None:
    from mambano_core.models.registry import model_configuration, resolved_model_args

    assert model_configuration("mambano", resolved_model_args("mambano", {"channels": 8})) == "authors"
    assert model_configuration("mambano", resolved_model_args("mambano", {"project_norm": False})) == "no-output-norm"
    assert model_configuration("mambano", resolved_model_args("mambano", {"drop_path": 0.3})) == "custom"
    assert model_configuration("cno", resolved_model_args("cno", {})) is None
