"""`mambano study resolution|data|ablation` end to end on tiny settings (seconds each)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from conftest import invoke, tiny_spec_dict


def _png(path: Path) -> bool:
    return path.is_file() and path.stat().st_size > 1000 and path.read_bytes()[:4] == b"\x89PNG"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """data/ (Poisson 16^2) and two runs: a ResNet (any grid) and an FFNN (its training grid only)."""
    work = tmp_path_factory.mktemp("study")
    result = invoke("generate", "poisson", "--resolution", "16", "--n-train", "16", "--n-val", "8", "--n-test-id", "4",
                    "--n-test-ood", "4", "--out", "data", "--workers", "1", cwd=work)
    assert result.exit_code == 0, result.output
    for name, model in (("resnet", {"name": "resnet", "args": {"channels": 4, "blocks": 1}}),
                        ("ffnn", {"name": "ffnn", "args": {"width": 16}})):
        spec = tiny_spec_dict(Path("data"), Path("runs"), epochs=1)
        spec["model"] = model
        (work / f"{name}.yaml").write_text(yaml.safe_dump(spec))
        result = invoke("train", f"{name}.yaml", cwd=work)
        assert result.exit_code == 0, result.output
    return work


def test_resolution_study_regenerates_the_test_samples_and_reports_grids_a_model_cannot_take(trained: Path) -> None:
    result = invoke("study", "resolution", "runs/poisson-resnet", "runs/poisson-ffnn", "--resolutions", "16,24",
                    "--resolutions", "32", "--ood", "--out", "res", "--json", cwd=trained)
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout[result.stdout.index("{"):])["rows"]
    assert {(r["run"], r["resolution"], r["split"]) for r in rows} == {
        (run, res, split) for run in ("poisson-resnet", "poisson-ffnn") for res in (16, 24, 32) for split in ("in", "out")}
    ffnn = [r for r in rows if r["run"] == "poisson-ffnn" and r["resolution"] != 16]
    assert all(r["median"] is None and "16x16" in r["note"] for r in ffnn)  # the message, and the study went on
    manifest = json.loads((trained / "data" / "poisson" / "manifest.json").read_text())
    assert {"test_id_24", "test_ood_24", "test_id_32", "test_ood_32"} <= set(manifest["files"])
    # The table says what `mambano eval` says on the same run and grid.
    evaluated = invoke("eval", "runs/poisson-resnet", "--resolution", "24", "--ood", "--json", cwd=trained)
    scores = json.loads(evaluated.stdout[evaluated.stdout.index("["):])[0]["scores"]
    for split in ("in", "out"):
        [row] = [r for r in rows if r["run"] == "poisson-resnet" and r["resolution"] == 24 and r["split"] == split]
        assert row["median"] == scores[split]["median"] and row["q25"] == scores[split]["q25"]
    table = (trained / "res" / "resolution.md").read_text()
    assert "16 (training)" in table and "Not evaluated" in table
    assert _png(trained / "res" / "resolution.png") and (trained / "res" / "resolution.csv").is_file()
    assert "resolution.png" in (trained / "res" / "report.md").read_text()


def test_data_study_trains_every_size_with_the_same_steps_and_resumes(tmp_path: Path) -> None:
    args = ["study", "data", "--benchmark", "poisson", "--models", "resnet,unet", "--sizes", "4,8", "--preset", "tiny",
            "--out", "d", "--json"]
    result = invoke(*args, cwd=tmp_path)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout[result.stdout.index("{"):])
    rows = {(r["model"], r["samples"]): r for r in out["rows"]}
    # tiny: 2 epochs of 16 samples in batches of 8 = 4 steps; 4 samples = 1 batch per epoch -> 4 epochs
    assert rows[("resnet", 4)]["epochs"] == 4 and rows[("resnet", 8)]["epochs"] == 4
    assert set(out["slopes"]) == {"resnet", "unet"} and all(isinstance(s, float) for s in out["slopes"].values())
    assert _png(tmp_path / "d" / "data.png") and _png(tmp_path / "d" / "curves_time.png")
    assert sorted(p.name for p in (tmp_path / "d" / "specs").iterdir()) == [
        "resnet-n4.yaml", "resnet-n8.yaml", "unet-n4.yaml", "unet-n8.yaml"]
    # An interrupted study: one pair has no summary; the rerun trains it alone.
    kept = tmp_path / "d" / "runs" / "resnet-n4" / "checkpoints" / "best.pt"
    stamp = kept.stat().st_mtime_ns
    (tmp_path / "d" / "runs" / "unet-n8" / "summary.json").unlink()
    result = invoke(*args, cwd=tmp_path)
    assert result.exit_code == 0, result.output
    assert "skip poisson x resnet n=4: already trained" in result.output
    assert "train poisson x unet n=8 (resume)" in result.output
    assert kept.stat().st_mtime_ns == stamp


def test_study_arguments_are_checked_before_any_work(tmp_path: Path) -> None:
    result = invoke("study", "data", "--models", "gpt", "--preset", "tiny", "--out", "d", cwd=tmp_path)
    assert result.exit_code == 3 and "unknown model 'gpt'" in result.output
    result = invoke("study", "resolution", "nowhere", "--out", "r", cwd=tmp_path)
    assert result.exit_code == 5
    result = invoke("study", "data", "--sizes", "4,x", "--preset", "tiny", cwd=tmp_path)
    assert result.exit_code == 2 and "--sizes" in result.output
    assert not (tmp_path / "d" / "data").exists()


def test_ablation_study_trains_every_variant_and_scores_it_at_a_second_grid(tmp_path: Path) -> None:
    result = invoke("study", "ablation", "--benchmark", "poisson", "--preset", "tiny", "--other-resolution", "32",
                    "--out", "a", "--json", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    rows = {r["variant"]: r for r in json.loads(result.stdout[result.stdout.index("{"):])["rows"]}
    assert list(rows) == ["authors", "no-mamba", "no-conv", "pointwise-activations", "one-direction"]
    assert rows["authors"]["parameters"] == rows["pointwise-activations"]["parameters"]
    assert rows["no-mamba"]["parameters"] < rows["one-direction"]["parameters"] < rows["authors"]["parameters"]
    assert all(r[k] is not None for r in rows.values()
               for k in ("in", "out", "other_in", "other_out", "other_resampled_in", "other_resampled_out"))
    specs = {p.stem: yaml.safe_load(p.read_text()) for p in (tmp_path / "a" / "specs").iterdir()}
    assert specs["mambano-no-mamba"]["model"]["args"]["mamba_integration"] is False
    assert specs["mambano-one-direction"]["model"]["args"]["scan_directions"] == 1
    table = (tmp_path / "a" / "ablation.md").read_text()
    assert "In at 32^2" in table and _png(tmp_path / "a" / "curves.png")
