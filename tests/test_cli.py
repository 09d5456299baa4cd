"""The CLI end to end: generate -> train -> eval -> predict -> upsample, and every bad input's exit code."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

from conftest import invoke, tiny_spec_dict

@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working directory with data/, a trained tiny run under runs/, via the CLI."""
    work = tmp_path_factory.mktemp("work")
    result = invoke("generate", "poisson", "--resolution", "16", "--n-train", "16", "--n-val", "8",
                    "--n-test-id", "8", "--n-test-ood", "8", "--out", "data", cwd=work)
    assert result.exit_code == 0, result.output
    spec = tiny_spec_dict(Path("data"), Path("runs"), epochs=1)
    (work / "spec.yaml").write_text(yaml.safe_dump(spec))
    result = invoke("train", "spec.yaml", "--set", "training.epochs=2", "--json", cwd=work)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout[result.stdout.index("{"):])
    assert summary["epochs_run"] == 2 and summary["model"] == "resnet"
    return work


def test_help_lists_the_five_commands_and_the_exit_codes() -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    for command in ("generate", "train", "eval", "predict", "upsample"):
        assert command in result.output
    assert "Exit codes" in result.output and "3 invalid run spec" in result.output


def test_help_does_not_import_torch() -> None:
    code = "import sys; from mambano_cli.app import app; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_eval_table_json_and_files(trained: Path) -> None:
    result = invoke("eval", "--ood", "--json", cwd=trained)
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout[result.stdout.index("["):])
    assert payload[0]["model"] == "resnet" and set(payload[0]["scores"]) == {"in", "out"}
    assert payload[0]["scores"]["in"]["count"] == 8 and payload[0]["scores"]["in"]["median"] > 0
    md = (trained / "runs" / "eval.md").read_text()
    assert "poisson In" in md and "poisson Out" in md and "resnet" in md
    assert (trained / "runs" / "eval.csv").read_text().startswith("model,poisson In,poisson Out")


def test_predict_writes_physical_units_on_the_requested_grid_and_a_plot(trained: Path) -> None:
    result = invoke("predict", "--input", "data/poisson/test_id_16.nc", "--resolution", "32",
                    "--output", "pred.nc", "--plot", "pred.png", "--json", cwd=trained)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout[result.stdout.index("{"):])
    assert summary["checkpoint"].endswith("best.pt") and summary["resolution"] == 32
    with h5py.File(trained / "pred.nc") as handle:
        assert handle["u"].shape == (8, 32, 32) and handle["u_true"].shape == (8, 32, 32)
        assert handle["f"].shape == (8, 32, 32)
        pred = handle["u"][...]
    manifest = json.loads((trained / "data/poisson/manifest.json").read_text())
    stats = manifest["normalization"]["16"]
    # physical units: the prediction lives on the scale of u, not on [0, 1]
    assert abs(pred).max() < 10 * max(abs(stats["output_min"]), abs(stats["output_max"]))
    assert (trained / "pred.png").read_bytes()[:4] == b"\x89PNG"


def test_predict_resample_mode(trained: Path) -> None:
    result = invoke("predict", "--input", "data/poisson/test_id_16.nc", "--resolution", "32", "--mode", "resample",
                    "--output", "pred_r.nc", cwd=trained)
    assert result.exit_code == 0, result.output


def test_upsample_poisson_file(trained: Path) -> None:
    result = invoke("upsample", "data/poisson/val_16.nc", "--resolution", "48", "-o", "up.nc", cwd=trained)
    assert result.exit_code == 0, result.output
    with h5py.File(trained / "up.nc") as handle:
        assert handle["f"].shape == (8, 48, 48)
        assert handle.attrs["resolution"] == 48 and handle["seed"].shape == (8,)


def test_installed_console_script_runs(trained: Path) -> None:
    exe = shutil.which("mambano") or str(Path(sys.executable).parent / "mambano")
    out = subprocess.run([exe, "eval", "--json"], cwd=trained, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)[0]["benchmark"] == "poisson"


# ---------------------------------------------------------------- bad input
def _field_file(path: Path, values: np.ndarray, name: str = "f", extra: str | None = None) -> Path:
    with h5py.File(path, "w") as handle:
        handle[name] = values
        if extra:
            handle[extra] = values
    return path


@pytest.mark.parametrize(
    ("content", "code", "needle"),
    [
        (None, 5, "does not exist"),
        ("data: [unclosed\n", 3, "not valid YAML"),
        ("data: {benchmark: poisson, bogus: 1}\nmodel: {name: resnet}\n", 3, "data.bogus: unknown key"),
        ("data: {benchmark: poisson}\nmodel: {name: resnet}\ntraining: {epochs: zero}\n", 3, "training.epochs"),
        ("data: {benchmark: poisson, root: nowhere}\nmodel: {name: resnet}\n", 5, "mambano generate poisson"),
        ("data: {benchmark: poisson}\nmodel: {name: transformer9}\n", 3, "unknown model"),
    ],
    ids=["missing-file", "malformed-yaml", "unknown-key", "invalid-value", "missing-data", "unknown-model"],
)
def test_train_bad_specs(tmp_path: Path, content: str | None, code: int, needle: str) -> None:
    if content is not None:
        (tmp_path / "spec.yaml").write_text(content)
    result = invoke("train", "spec.yaml", cwd=tmp_path)
    assert result.exit_code == code, result.output
    assert needle in result.output and "Traceback" not in result.output


def test_bad_override_exit_code(tiny_spec_file: Path) -> None:
    result = invoke("train", str(tiny_spec_file), "--set", "training.epochs=-3")
    assert result.exit_code == 3 and "training.epochs" in result.output


def test_predict_bad_inputs(trained: Path, tmp_path: Path) -> None:
    good = np.random.default_rng(0).random((2, 16, 16))
    cases = [
        (["--input", str(tmp_path / "nothing.nc")], 5, "does not exist"),
        (["--input", str(_field_file(tmp_path / "novar.nc", good, name="g", extra="h"))], 4,
         "has no field variable 'f' (the model's input); name the file's input field with --variable NAME; field variables found: g, h"),
        (["--input", str(_field_file(tmp_path / "dims.nc", np.zeros((2, 2, 16, 16))))], 4, "must have dims (sample, y, x) or (y, x); got 4"),
        (["--input", str(_field_file(tmp_path / "rect.nc", np.zeros((2, 16, 12))))], 4, "square grid"),
        (["--input", str(_field_file(tmp_path / "nan.nc", np.where(good > 0.5, np.nan, good)))], 4, "NaN/Inf"),
    ]
    bad_text = tmp_path / "text.nc"
    bad_text.write_text("not a netCDF file")
    cases.append((["--input", str(bad_text)], 4, "not a readable netCDF4/HDF5"))
    for args, code, needle in cases:
        result = invoke("predict", *args, "--output", str(tmp_path / "p.nc"), cwd=trained)
        assert result.exit_code == code, (args, result.output)
        assert needle in result.output and "Traceback" not in result.output, result.output


def test_checkpoint_errors(trained: Path, tmp_path: Path) -> None:
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x00" * 64)
    result = invoke("predict", "--checkpoint", str(junk), "--input", "data/poisson/test_id_16.nc", cwd=trained)
    assert result.exit_code == 6 and "not a readable mambano checkpoint" in result.output
    # a checkpoint of another model: resume a run whose spec now names a different model
    spec = yaml.safe_load((trained / "spec.yaml").read_text())
    spec["model"] = {"name": "unet", "args": {"channels": 4, "levels": 2}}
    spec["output"]["name"] = "poisson-resnet"
    (trained / "other.yaml").write_text(yaml.safe_dump(spec))
    result = invoke("train", "other.yaml", "--resume", cwd=trained)
    assert result.exit_code == 6 and "holds model 'resnet'" in result.output


def test_eval_without_runs_and_usage_errors(tmp_path: Path) -> None:
    result = invoke("eval", cwd=tmp_path)
    assert result.exit_code == 5 and "train a model first" in result.output
    assert invoke("eval", "--mode", "sideways", cwd=tmp_path).exit_code == 2
    assert invoke("generate", "poisson", "--split", "everything", cwd=tmp_path).exit_code == 2
    result = invoke("generate", "navier_stokes_3d", cwd=tmp_path)
    assert result.exit_code == 3 and "poisson" in result.output


def test_upsample_needs_a_boundary(tmp_path: Path) -> None:
    path = _field_file(tmp_path / "plain.nc", np.zeros((1, 8, 8)))
    result = invoke("upsample", str(path), "--resolution", "16", cwd=tmp_path)
    assert result.exit_code == 4 and "--boundary" in result.output
    result = invoke("upsample", str(path), "--resolution", "16", "--boundary", "periodic", cwd=tmp_path)
    assert result.exit_code == 0, result.output


def test_ctrl_c_saves_a_checkpoint_and_resume_finishes(tiny_store: Path, tmp_path: Path) -> None:
    import signal
    import time

    spec = tiny_spec_dict(tiny_store, tmp_path / "runs", epochs=200)
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    exe = shutil.which("mambano") or str(Path(sys.executable).parent / "mambano")
    process = subprocess.Popen([exe, "train", "spec.yaml"], cwd=tmp_path, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    metrics = tmp_path / "runs" / "poisson-resnet" / "metrics.jsonl"
    deadline = time.time() + 120
    while not (metrics.is_file() and metrics.read_text().strip()) and time.time() < deadline:
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "--resume" in err and "Traceback" not in err
    state = read_train_state(metrics.parent / "checkpoints" / "last.pt")
    assert 1 <= state["epoch"] < 200
    result = invoke("train", "spec.yaml", "--resume", "--set", f"training.epochs={state['epoch'] + 1}", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    assert read_train_state(metrics.parent / "checkpoints" / "last.pt")["epoch"] == state["epoch"] + 1


def read_train_state(path: Path) -> dict:
    from mambano_core.training.checkpoint import read_checkpoint

    return read_checkpoint(path)["train_state"]["state"]
