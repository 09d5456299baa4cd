"""Data store integrity: one identity per store, one writer per split, checksums checked on use."""

from __future__ import annotations

import json
import logging
import multiprocessing
import re
import sys
import time
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from mambano_core.data.store import Store, generate_store
from mambano_core.errors import DataError, MambanoError

COUNTS = {"train": 10, "val": 4, "test_id": 4, "test_ood": 4}


def tamper(path: Path) -> None:
    """Change one stored value: the file stays a valid netCDF file of the same size."""
    size = path.stat().st_size
    with h5py.File(path, "r+") as handle:
        handle["u"][0, 3, 3] = handle["u"][0, 3, 3] + 1.0
    assert path.stat().st_size == size


# --- concurrent generations in real processes ---------------------------------------------------


def _generate_in_child(root: str, seed: int, split: str, report: str, ready: Any, waiting: Any, go: Any, computed: Any) -> None:
    """Generate one split; at the first progress call, signal ``ready`` and wait for ``go``."""
    from mambano_core.data.benchmarks.poisson import Poisson

    original = Poisson.sample

    def counting_sample(self: Poisson, *args: Any, **kwargs: Any) -> Any:
        with computed.get_lock():
            computed.value += 1
        return original(self, *args, **kwargs)

    Poisson.sample = counting_sample  # type: ignore[method-assign]

    class WaitingHandler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "waiting" in record.getMessage():
                waiting.set()

    logger = logging.getLogger("mambano.generate")
    logger.setLevel(logging.INFO)
    logger.addHandler(WaitingHandler())

    def progress(key: str, done: int, total: int) -> None:
        if not ready.is_set():
            ready.set()
            go.wait(60)

    try:
        generate_store("poisson", root, 16, COUNTS, base_seed=seed, splits=[split], progress=progress)
    except MambanoError as error:
        Path(report).write_text(str(error))
        sys.exit(error.exit_code)


def _run_at_once(root: Path, jobs: list[tuple[int, str]]) -> list[tuple[int, str, int]]:
    """Start one process per (seed, split) job; release them together once each has started
    generating, is waiting for a lock, or has exited. Returns (exit code, error text, samples computed)."""
    context = multiprocessing.get_context("spawn")
    go = context.Event()
    children = []
    for number, (seed, split) in enumerate(jobs):
        ready, waiting, computed = context.Event(), context.Event(), context.Value("i", 0)
        report = root.parent / f"report_{number}.txt"
        process = context.Process(target=_generate_in_child,
                                  args=(str(root), seed, split, str(report), ready, waiting, go, computed))
        process.start()
        children.append((process, ready, waiting, computed, report))
    deadline = time.monotonic() + 120
    while not all(r.is_set() or w.is_set() or not p.is_alive() for p, r, w, _, _ in children):
        assert time.monotonic() < deadline, "the generations did not start"
        time.sleep(0.05)
    go.set()
    results = []
    for process, _, _, computed, report in children:
        process.join(120)
        assert process.exitcode is not None, "a generation hung"
        results.append((process.exitcode, report.read_text() if report.exists() else "", computed.value))
    return results


def test_concurrent_generations_with_other_seeds_cannot_mix_a_store(tmp_path: Path) -> None:
    root = tmp_path / "data"
    jobs = [(0, "train"), (1, "val")]
    results = _run_at_once(root, jobs)
    assert sorted(code for code, _, _ in results) == [0, 4], results
    winner = next(i for i, (code, _, _) in enumerate(results) if code == 0)
    (winner_seed, winner_split), (_, loser_split) = jobs[winner], jobs[1 - winner]
    message = results[1 - winner][1]
    assert f"seed {winner_seed}" in message and "--overwrite" in message and "--out" in message
    assert str(root / "poisson") in message
    manifest = Store(root, "poisson").manifest()
    assert manifest["base_seed"] == winner_seed and set(manifest["files"]) == {f"{winner_split}_16"}
    with h5py.File(root / "poisson" / f"{winner_split}_16.nc") as handle:
        assert int(np.asarray(handle.attrs["base_seed"]).item()) == winner_seed
    assert not (root / "poisson" / f"{loser_split}_16.nc").exists()


def test_two_generations_of_one_split_at_once_compute_it_once(tmp_path: Path) -> None:
    root = tmp_path / "data"
    results = _run_at_once(root, [(0, "train"), (0, "train")])
    assert [code for code, _, _ in results] == [0, 0], results
    assert sum(computed for _, _, computed in results) == COUNTS["train"]
    store = Store(root, "poisson")
    assert set(store.manifest()["files"]) == {"train_16"} and store.verify() == []


def test_generations_of_different_splits_in_processes_at_once_both_finish(tmp_path: Path) -> None:
    root = tmp_path / "data"
    results = _run_at_once(root, [(0, "train"), (0, "val")])
    assert [code for code, _, _ in results] == [0, 0], results
    store = Store(root, "poisson")
    assert set(store.manifest()["files"]) == {"train_16", "val_16"} and store.verify() == []
    assert "16" in store.manifest()["normalization"]


# --- a damaged file is regenerated by a rerun ----------------------------------------------------


@pytest.mark.parametrize("damage", ["truncate", "tamper", "delete"])
def test_a_rerun_regenerates_a_damaged_file_and_says_so(tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture) -> None:
    store = generate_store("poisson", tmp_path, 16, COUNTS)
    path = store.path("val", 16)
    good = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(good[: len(good) // 2])
    elif damage == "tamper":
        tamper(path)
    else:
        path.unlink()
    with caplog.at_level(logging.INFO, logger="mambano.generate"):
        generate_store("poisson", tmp_path, 16, COUNTS)
    assert path.read_bytes() == good
    messages = [record.getMessage() for record in caplog.records]
    assert any(str(path) in text and "regenerat" in text for text in messages), messages
    assert all(".tmp" not in text for text in messages)
    assert store.verify() == []


def test_a_rerun_over_a_good_store_tells_nothing(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    generate_store("poisson", tmp_path, 16, COUNTS)
    with caplog.at_level(logging.INFO, logger="mambano.generate"):
        generate_store("poisson", tmp_path, 16, COUNTS)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


# --- files are verified before train/eval read them ----------------------------------------------


def test_split_file_refuses_a_tampered_file_and_says_how_to_regenerate_it(tmp_path: Path) -> None:
    store = generate_store("poisson", tmp_path, 16, COUNTS, base_seed=3)
    assert store.split_file("test_id", 16) == store.path("test_id", 16)
    tamper(store.path("test_id", 16))
    with pytest.raises(DataError) as info:
        Store(tmp_path, "poisson").split_file("test_id", 16)
    message = str(info.value)
    assert str(store.path("test_id", 16)) in message
    assert "mambano generate poisson --resolution 16" in message and f"--out {tmp_path}" in message
    assert "--seed 3" in message and ".tmp" not in message
    store.path("train", 16).write_bytes(b"")
    with pytest.raises(DataError, match=re.escape(str(store.path("train", 16)))):
        Store(tmp_path, "poisson").split_file("train", 16)


def test_split_file_hashes_each_version_of_a_file_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mambano_core.data import store_verify

    generate_store("poisson", tmp_path, 16, COUNTS)
    hashed: list[str] = []
    original = store_verify.sha256_file

    def counting(path: Any, *args: Any) -> str:
        hashed.append(Path(path).name)
        return original(path, *args)

    monkeypatch.setattr(store_verify, "sha256_file", counting)
    for _ in range(3):
        Store(tmp_path, "poisson").split_file("train", 16)
    assert hashed.count("train_16.nc") <= 1
    cache = tmp_path / "poisson" / ".verified.json"
    assert "train_16.nc" in json.loads(cache.read_text())["files"]
    hashed.clear()
    tamper(tmp_path / "poisson" / "train_16.nc")  # a new version of the file: hashed again
    with pytest.raises(DataError):
        Store(tmp_path, "poisson").split_file("train", 16)
    assert hashed == ["train_16.nc"]
    cache.write_text("{not json")  # a broken cache is ignored and rebuilt
    with pytest.raises(DataError):
        Store(tmp_path, "poisson").split_file("train", 16)


def test_split_file_works_when_the_cache_cannot_be_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mambano_core.data import store_verify

    store = generate_store("poisson", tmp_path, 16, COUNTS)
    (store.dir / ".verified.json").unlink()

    def read_only(*args: Any) -> None:
        raise PermissionError(13, "Read-only file system")

    monkeypatch.setattr(store_verify, "atomic_write_text", read_only)
    assert Store(tmp_path, "poisson").split_file("val", 16).is_file()
    tamper(store.path("val", 16))
    with pytest.raises(DataError):
        Store(tmp_path, "poisson").split_file("val", 16)


# --- malformed manifests -------------------------------------------------------------------------


@pytest.mark.parametrize("text", [
    "[]",
    '"a string"',
    '{"files": {}}',
    '{"format": "mambano-store/1", "benchmark": "poisson", "base_seed": 0, "config": {}, "files": [],'
    ' "boundary": "dirichlet", "input_variable": "f", "output_variable": "u", "normalize": true}',
    '{"format": "mambano-store/1", "benchmark": "poisson", "base_seed": 0, "config": {}, "files": {"train_16": 3},'
    ' "boundary": "dirichlet", "input_variable": "f", "output_variable": "u", "normalize": true}',
])
def test_a_malformed_manifest_is_a_data_error_naming_it(tmp_path: Path, text: str) -> None:
    (tmp_path / "poisson").mkdir()
    manifest = tmp_path / "poisson" / "manifest.json"
    manifest.write_text(text)
    with pytest.raises(DataError, match=re.escape(str(manifest))):
        Store(tmp_path, "poisson").manifest()
    with pytest.raises(DataError, match=re.escape(str(manifest))):
        generate_store("poisson", tmp_path, 16, COUNTS)


def test_a_store_with_other_generator_parameters_names_them(tmp_path: Path) -> None:
    generate_store("poisson", tmp_path, 16, {"val": 2}, splits=["val"])
    with pytest.raises(DataError, match=r"K_ood.*--overwrite"):
        generate_store("poisson", tmp_path, 16, {"val": 2}, splits=["val"], overrides={"K_ood": 12})


def test_overwrite_replaces_the_store_but_keeps_its_locks(tmp_path: Path) -> None:
    store = generate_store("poisson", tmp_path, 16, {"val": 2}, splits=["val"])
    (store.dir / "notes.txt").write_text("stale")
    generate_store("poisson", tmp_path, 16, {"val": 2}, splits=["val"], base_seed=4, overwrite=True)
    assert not (store.dir / "notes.txt").exists()
    assert (store.dir / ".manifest.lock").exists()
    assert store.manifest()["base_seed"] == 4 and store.verify() == []


def test_extend_to_makes_the_same_samples_at_another_grid_once(tmp_path: Path) -> None:
    import xarray as xr

    from mambano_core.ops.resample import resample

    store = generate_store("poisson", tmp_path, 16, {"test_id": 3}, base_seed=7, splits=["test_id"])
    with pytest.raises(DataError, match="no test_ood split at grid 16"):
        store.extend_to(32, ["test_ood"], like=16)
    assert store.extend_to(32, ["test_id"], like=16) == ["test_id"]
    assert store.extend_to(32, ["test_id"], like=16) == []  # already there: nothing generated
    fine = xr.open_dataset(store.split_file("test_id", 32))["u"].values
    coarse = xr.open_dataset(store.split_file("test_id", 16))["u"].values
    np.testing.assert_allclose(resample(fine.astype(np.float64), 16, "dirichlet"), coarse, atol=1e-5)
