"""Faults at the joins between features (issue 14): run folders, resume, inputs, outputs, exit codes.

Each test reproduces a defect found by a bad-input sweep of the CLI; every one failed on the code
before the fix (exit 0 or 1 where a documented code and a clear message were due).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml


from conftest import invoke, tiny_spec_dict

@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """data/ (tiny Poisson at 16^2), spec.yaml (tiny ResNet) and a trained run runs/poisson-resnet."""
    work = tmp_path_factory.mktemp("faults")
    result = invoke("generate", "poisson", "--resolution", "16", "--n-train", "16", "--n-val", "8",
                    "--n-test-id", "8", "--n-test-ood", "8", "--out", "data", "--workers", "1", cwd=work)
    assert result.exit_code == 0, result.output
    (work / "spec.yaml").write_text(yaml.safe_dump(tiny_spec_dict(Path("data"), Path("runs"), epochs=1)))
    result = invoke("train", "spec.yaml", cwd=work)
    assert result.exit_code == 0, result.output
    return work


def _copy(work: Path, tmp_path: Path) -> Path:
    target = tmp_path / "w"
    shutil.copytree(work, target)
    return target


# ------------------------------------------------------------------ run folders and resume


def test_a_second_trainer_of_one_run_folder_is_refused_while_the_first_trains(work: Path, tmp_path: Path) -> None:
    """Defect 2: two `mambano train` into one run folder both exited 0 and interleaved their logs."""
    w = _copy(work, tmp_path)
    spec = tiny_spec_dict(Path("data"), Path("runs"), epochs=200)
    spec["output"]["name"] = "busy"
    (w / "long.yaml").write_text(yaml.safe_dump(spec))
    first = subprocess.Popen([sys.executable, "-m", "mambano_cli", "train", "long.yaml"], cwd=w,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while not (w / "runs" / "busy" / "metrics.jsonl").is_file():  # the first one trains
            assert first.poll() is None and time.time() < deadline, first.stderr.read() if first.stderr else ""
            time.sleep(0.2)
        second = invoke("train", "long.yaml", "--overwrite", cwd=w)
        assert second.exit_code == 8, second.output
        assert "is being trained by process" in second.output and "output.name=NEW" in second.output
        resumed = invoke("train", "long.yaml", "--resume", cwd=w)
        assert resumed.exit_code == 8, resumed.output
    finally:
        first.kill()
        first.wait()
    # The killed trainer's lock died with it: the run resumes at once.
    resumed = invoke("train", "long.yaml", "--resume", "--set", "training.epochs=1", cwd=w)
    assert resumed.exit_code in (0, 3), resumed.output  # 3: its hyperparameters are checked, not the lock
    assert "being trained" not in resumed.output


def test_resume_refuses_a_checkpoint_of_other_data(work: Path, tmp_path: Path) -> None:
    """Defect 3a: --resume accepted a last.pt trained on another benchmark."""
    w = _copy(work, tmp_path)
    result = invoke("generate", "wave", "--resolution", "16", "--n-train", "16", "--n-val", "8",
                    "--n-test-id", "8", "--n-test-ood", "8", "--out", "data", "--workers", "1", cwd=w)
    assert result.exit_code == 0, result.output
    result = invoke("train", "spec.yaml", "--resume", "--set", "data.benchmark=wave",
                    "--set", "output.name=poisson-resnet", cwd=w)
    assert result.exit_code == 4, result.output
    assert "trained on other data (benchmark 'poisson' in the run, 'wave' now" in result.output


def test_resume_refuses_changed_hyperparameters_and_applies_allowed_changes(work: Path, tmp_path: Path) -> None:
    """Defect 3b: --resume --set training.lr=0.5 trained at the old rate but wrote 0.5 into spec.yaml."""
    w = _copy(work, tmp_path)
    run = w / "runs" / "poisson-resnet"
    before = (run / "spec.yaml").read_text()
    result = invoke("train", "spec.yaml", "--resume", "--set", "training.lr=0.5", cwd=w)
    assert result.exit_code == 3, result.output
    assert "training.lr is 0.001 in the run, 0.5 in the spec" in result.output
    assert (run / "spec.yaml").read_text() == before
    result = invoke("train", "spec.yaml", "--resume", "--set", "training.epochs=2", cwd=w)
    assert result.exit_code == 0, result.output
    assert "resuming with training.epochs = 2 (was 1)" in result.output
    assert yaml.safe_load((run / "spec.yaml").read_text())["training"]["epochs"] == 2
    assert [json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()] == [1, 2]


@pytest.mark.parametrize("name", ["../escape", "/tmp/abs-run", "..", ".", "a/b", ".hidden"])
def test_run_names_stay_inside_runs_dir(work: Path, tmp_path: Path, name: str) -> None:
    """Defect 4: output.name=../x, an absolute path, '..' or '.' wrote the run outside runs_dir."""
    w = _copy(work, tmp_path)
    result = invoke("train", "spec.yaml", "--set", f"output.name={name}", cwd=w)
    assert result.exit_code == 3, result.output
    assert "is not a run folder name" in result.output
    assert not (w / "escape").exists() and not Path("/tmp/abs-run").exists()


def test_a_yaml_alias_bomb_is_refused_quickly_with_a_short_message(tmp_path: Path) -> None:
    """Defect 5: an alias bomb in model.args ran unbounded (1.4 GB after 20 s)."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    bomb = "\n".join(lines) + "\ndata: {benchmark: poisson}\nmodel: {name: resnet, args: {x: *a8}}\n"
    (tmp_path / "bomb.yaml").write_text(bomb)
    started = time.perf_counter()
    result = invoke("train", "bomb.yaml", cwd=tmp_path)
    assert time.perf_counter() - started < 10
    assert result.exit_code == 3 and "aliases" in result.output, result.output[:500]
    assert len(result.output) < 2000
    result = invoke("train", "bomb.yaml", "--set", "data.benchmark=" + "p" * 100_000, cwd=tmp_path)
    assert result.exit_code == 3 and len(result.output) < 5000


# ------------------------------------------------------------------ evaluation inputs


@pytest.mark.parametrize("case", ["nan", "inf"])
def test_eval_refuses_non_finite_test_fields(work: Path, tmp_path: Path, case: str) -> None:
    """Defect 6a: eval accepted NaN/Inf test fields (the table showed nan, --json a bare NaN), exit 0."""
    w = _copy(work, tmp_path)
    path = w / "data" / "poisson" / "test_id_16.nc"
    with h5py.File(path, "r+") as handle:
        data = handle["f"][...]
        data[3, 2, 2] = np.nan if case == "nan" else np.inf
        handle["f"][...] = data
    manifest = json.loads((w / "data" / "poisson" / "manifest.json").read_text())
    from mambano_core.io_utils import sha256_file

    manifest["files"]["test_id_16"]["sha256"] = sha256_file(path)  # the checksum alone must not be the guard
    (w / "data" / "poisson" / "manifest.json").write_text(json.dumps(manifest))
    result = invoke("eval", "--json", cwd=w)
    assert result.exit_code == 4, result.output
    assert "NaN/Inf values (first in sample 3)" in result.output and "NaN" not in result.stdout


@pytest.mark.parametrize("shape", [(8, 16, 8), (8, 7, 7)])
def test_eval_refuses_a_grid_other_than_its_name_says(work: Path, tmp_path: Path, shape: tuple[int, ...]) -> None:
    """Defect 6b: a 32x16 grid and a 7x7 grid named _32 evaluated with exit 0."""
    w = _copy(work, tmp_path)
    path = w / "data" / "poisson" / "test_id_16.nc"
    with h5py.File(path, "r+") as handle:
        for name in ("f", "u"):
            del handle[name]
            handle[name] = np.zeros(shape, dtype=np.float32)
    manifest = json.loads((w / "data" / "poisson" / "manifest.json").read_text())
    from mambano_core.io_utils import sha256_file

    manifest["files"]["test_id_16"]["sha256"] = sha256_file(path)
    (w / "data" / "poisson" / "manifest.json").write_text(json.dumps(manifest))
    result = invoke("eval", cwd=w)
    assert result.exit_code == 4, result.output
    assert "square grid" in result.output or "not the 16 x 16 its name says" in result.output


def test_eval_reports_every_broken_run_and_still_evaluates_the_others(work: Path, tmp_path: Path) -> None:
    """Defect 11: eval with no RUN stopped at the first broken run and evaluated nothing."""
    w = _copy(work, tmp_path)
    broken = w / "runs" / "a-broken" / "checkpoints"
    broken.mkdir(parents=True)
    (broken / "best.pt").write_bytes(b"not a checkpoint")
    result = invoke("eval", "--json", cwd=w)
    assert result.exit_code == 6, result.output
    assert "cannot evaluate" in result.output and "a-broken" in result.output
    evaluated = json.loads(result.stdout[result.stdout.index("["):])
    assert [e["run"] for e in evaluated] == ["poisson-resnet"]


# ------------------------------------------------------------------ predict


def _single_field(path: Path, name: str, values: np.ndarray) -> Path:
    with h5py.File(path, "w") as handle:
        handle[name] = values
    return path


def test_predict_refuses_a_file_without_the_models_input_unless_named(work: Path, tmp_path: Path) -> None:
    """Defect 7: predict used another variable (even the model's output) as input, silently."""
    values = np.random.default_rng(0).random((2, 16, 16))
    only_output = _single_field(tmp_path / "u.nc", "u", values)
    result = invoke("predict", "--input", str(only_output), "--output", str(tmp_path / "p.nc"), cwd=work)
    assert result.exit_code == 4, result.output
    assert "has no field variable 'f' (the model's input)" in result.output and "--variable" in result.output
    other = _single_field(tmp_path / "g.nc", "g", values)
    result = invoke("predict", "--input", str(other), "--variable", "g", "--output", str(tmp_path / "p.nc"),
                    "--json", cwd=work)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout[result.stdout.index("{"):])["input_variable"] == "g"


@pytest.mark.parametrize("resolution", ["0", "-4", "100000"])
def test_resolutions_must_be_in_range(work: Path, tmp_path: Path, resolution: str) -> None:
    """Defects 8 and 9: --resolution 0 meant "default" (exit 0 at another grid); 100000 tried to
    allocate 640 GB and ended in exit 1."""
    test_file = str(work / "data" / "poisson" / "test_id_16.nc")
    for args in (["predict", "--input", test_file, "--output", str(tmp_path / "p.nc")],
                 ["eval"], ["upsample", test_file, "-o", str(tmp_path / "u.nc")]):
        result = invoke(*args, "--resolution", resolution, cwd=work)
        assert result.exit_code == 2, (args, result.output)
        assert "--resolution must be a grid size from 8 to 4096" in result.output, result.output


def test_outputs_replace_only_regular_writable_files(work: Path, tmp_path: Path) -> None:
    """Defect 8: -o replaced whatever was at the path (a read-only file; a directory made exit 1)."""
    test_file = str(work / "data" / "poisson" / "test_id_16.nc")
    read_only = tmp_path / "ro.nc"
    read_only.write_text("keep me")
    read_only.chmod(0o444)
    folder = tmp_path / "folder"
    folder.mkdir()
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        for target, needle in ((read_only, "read-only file"), (folder, "is a directory"),
                               (locked / "p.nc", "is read-only"), (Path("/dev/null"), "not a regular file")):
            for args in (["predict", "--input", test_file, "--output", str(target)],
                         ["upsample", test_file, "--resolution", "32", "-o", str(target)]):
                result = invoke(*args, cwd=work)
                assert result.exit_code == 2, (args, result.output)
                assert needle in result.output and ".tmp" not in result.output, result.output
        assert read_only.read_text() == "keep me"
    finally:
        locked.chmod(0o755)


def test_damaged_checkpoints_are_incompatible_not_internal_errors(work: Path, tmp_path: Path) -> None:
    """Defect 8: checkpoints missing model_args/normalization/data exited 1 ("this is a bug")."""
    import torch

    raw = torch.load(work / "runs" / "poisson-resnet" / "checkpoints" / "best.pt", weights_only=True)
    test_file = str(work / "data" / "poisson" / "test_id_16.nc")
    for part in ("model_args", "normalization", "data"):
        broken = {k: v for k, v in raw.items() if k != part}
        torch.save(broken, tmp_path / f"no_{part}.pt")
        for args in (["predict", "--input", test_file, "--output", str(tmp_path / "p.nc")], ["eval"]):
            where = ["--checkpoint", str(tmp_path / f"no_{part}.pt")] if args[0] == "predict" else [str(tmp_path / f"no_{part}.pt")]
            result = invoke(*args, *where, cwd=work)
            assert result.exit_code == 6, (part, args, result.output)
            assert f"lacks {part}" in result.output


@pytest.mark.parametrize(("where", "code"), [("tempfile.mkstemp", 13), ("os.replace", 28)], ids=["EACCES", "ENOSPC"])
def test_unwritable_outputs_name_the_users_path_not_a_temporary_file(
    work: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str, code: int
) -> None:
    """Defect 8: a folder that cannot be written failed with exit 1 and a hidden .name.xxx.tmp path.
    (Simulated: the tests run as root, for whom a read-only folder is writable.)"""
    import errno

    w = _copy(work, tmp_path)
    module, name = where.split(".")

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError(code, os.strerror(code), str(w / "runs" / ".eval.md.abc123.tmp"))

    monkeypatch.setattr(f"mambano_core.io_utils.{module}.{name}", refuse)
    result = invoke("eval", cwd=w)  # writes runs/eval.md
    assert code in (errno.EACCES, errno.ENOSPC)
    assert result.exit_code == 2, result.output
    assert f"cannot write runs/eval.md: {os.strerror(code)}" in result.output and ".tmp" not in result.output


def test_predict_refuses_a_file_with_no_sample(work: Path, tmp_path: Path) -> None:
    empty = _single_field(tmp_path / "empty.nc", "f", np.zeros((0, 16, 16)))
    result = invoke("predict", "--input", str(empty), "--output", str(tmp_path / "p.nc"), cwd=work)
    assert result.exit_code == 4 and "holds no sample" in result.output, result.output
