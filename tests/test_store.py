"""The data store: netCDF layout, determinism, manifest, resume, lazy dataset."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import xarray as xr

from mambano_core.data.benchmarks import get_benchmark
from mambano_core.data.dataset import FieldPairDataset
from mambano_core.data.store import Store, generate_store
from mambano_core.errors import DataError, MissingFileError
from mambano_core.io_utils import sha256_file

COUNTS = {"train": 10, "val": 4, "test_id": 4, "test_ood": 4}


def test_split_files_follow_the_cf_layout(tiny_store: Path) -> None:
    with xr.open_dataset(tiny_store / "poisson" / "test_ood_16.nc") as ds:
        assert ds["f"].dims == ("sample", "y", "x") and ds["u"].dims == ("sample", "y", "x")
        assert ds["f"].dtype == np.float32
        np.testing.assert_allclose(ds["x"].values, np.arange(16) / 16)
        assert ds.attrs["Conventions"].startswith("CF-")
        assert ds.attrs["split"] == "test_ood" and ds.attrs["distribution"] == "ood"
        assert ds.attrs["resolution"] == 16 and ds.attrs["boundary"] == "dirichlet"
        assert json.loads(ds.attrs["generator_params"])["K_ood"] == 20
        assert ds.attrs["normalize"] == 1
        assert list(ds["sample"].values) == list(range(8))
        assert ds["seed"].dtype == np.uint64


def test_stored_samples_are_the_generator_samples(tiny_store: Path) -> None:
    bench = get_benchmark("poisson")
    with xr.open_dataset(tiny_store / "poisson" / "val_16.nc") as ds:
        seed = int(ds["seed"].values[3])
        expected = bench.sample(seed, "id", 16)
        np.testing.assert_array_equal(ds["f"].values[3], expected.input.astype(np.float32))
        np.testing.assert_array_equal(ds["u"].values[3], expected.output.astype(np.float32))


def test_manifest_checksums_and_training_statistics(tiny_store: Path) -> None:
    store = Store(tiny_store, "poisson")
    assert store.verify() == []
    with xr.open_dataset(store.path("train", 16)) as ds:
        f, u = ds["f"].values, ds["u"].values
    norm = store.normalization(16)
    assert (norm.input_min, norm.input_max) == (float(f.min()), float(f.max()))
    assert (norm.output_min, norm.output_max) == (float(u.min()), float(u.max()))
    with pytest.raises(MissingFileError, match="resolution 32"):
        store.normalization(32)


def test_same_seed_gives_identical_bytes_and_another_seed_differs(tmp_path: Path) -> None:
    a = generate_store("wave", tmp_path / "a", 16, COUNTS, base_seed=1)
    b = generate_store("wave", tmp_path / "b", 16, COUNTS, base_seed=1)
    c = generate_store("wave", tmp_path / "c", 16, COUNTS, base_seed=2)
    for split in COUNTS:
        assert sha256_file(a.path(split, 16)) == sha256_file(b.path(split, 16))
        assert sha256_file(a.path(split, 16)) != sha256_file(c.path(split, 16))


def test_interrupted_generation_resumes_without_redoing_finished_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mambano_core.data import store as store_module
    from mambano_core.data.benchmarks.poisson import Poisson

    monkeypatch.setattr(store_module, "CHUNK_SIZE", 4)
    counts = {"train": 10, "val": 4}
    reference = generate_store("poisson", tmp_path / "ref", 16, counts, splits=counts)
    calls = {"n": 0}
    original = Poisson.sample

    def failing_sample(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 7:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Poisson, "sample", failing_sample)
    with pytest.raises(KeyboardInterrupt):
        generate_store("poisson", tmp_path / "run", 16, counts, splits=counts)
    assert not (tmp_path / "run" / "poisson" / "train_16.nc").exists()
    calls["n"] = -10**9  # no more failures
    store = generate_store("poisson", tmp_path / "run", 16, counts, splits=counts)
    # one chunk of 4 samples was finished before the failure and is not redone
    assert calls["n"] == -10**9 + (10 - 4) + 4
    for split in counts:
        assert sha256_file(store.path(split, 16)) == sha256_file(reference.path(split, 16))
    assert not (tmp_path / "run" / "poisson" / ".partial").exists()


def test_rerun_of_a_finished_store_does_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mambano_core.data.benchmarks.poisson import Poisson

    generate_store("poisson", tmp_path, 16, COUNTS)
    monkeypatch.setattr(Poisson, "sample", lambda *a, **k: pytest.fail("regenerated a finished split"))
    generate_store("poisson", tmp_path, 16, COUNTS)


def test_generations_of_different_splits_at_once_keep_each_others_manifest_entries(tmp_path: Path) -> None:
    """A second generation (another process, in effect) finishes a split while the first one runs."""
    started_other = []

    def finish_val_meanwhile(key: str, done: int, total: int) -> None:
        if key.startswith("train") and done == total and not started_other:
            started_other.append(key)  # train's samples are done, its manifest entry not written yet
            generate_store("poisson", tmp_path, 16, COUNTS, splits=["val"])

    generate_store("poisson", tmp_path, 16, COUNTS, splits=["train"], progress=finish_val_meanwhile)
    assert started_other
    manifest = Store(tmp_path, "poisson").manifest()
    assert set(manifest["files"]) == {"train_16", "val_16"}
    assert "16" in manifest["normalization"]
    assert Store(tmp_path, "poisson").verify() == []


def test_a_store_with_another_seed_is_not_mixed(tmp_path: Path) -> None:
    generate_store("poisson", tmp_path, 16, COUNTS, base_seed=0)
    with pytest.raises(DataError, match="--overwrite"):
        generate_store("poisson", tmp_path, 16, COUNTS, base_seed=5)
    generate_store("poisson", tmp_path, 16, COUNTS, base_seed=5, overwrite=True)
    assert Store(tmp_path, "poisson").manifest()["base_seed"] == 5


def test_transport_is_not_normalised(tmp_path: Path) -> None:
    store = generate_store("transport_smooth", tmp_path, 16, COUNTS)
    norm = store.normalization(16)
    assert (norm.input_min, norm.input_max, norm.output_min, norm.output_max) == (0, 1, 0, 1)


def test_dataset_reads_lazily_and_normalises(tiny_store: Path) -> None:
    store = Store(tiny_store, "poisson")
    norm = store.normalization(16)
    dataset = FieldPairDataset(store.path("train", 16), "f", "u", norm, limit=5)
    assert len(dataset) == 5 and dataset._handle is None
    x, y = dataset[2]
    assert x.shape == (1, 16, 16) and y.dtype.is_floating_point
    with h5py.File(store.path("train", 16)) as handle:
        raw = handle["f"][2]
    np.testing.assert_allclose(x[0].numpy(), (raw - norm.input_min) / (norm.input_max - norm.input_min), rtol=1e-6)
    xs = np.stack([dataset[i][0].numpy() for i in range(5)])
    assert xs.min() >= -1e-6 and xs.max() <= 1 + 1e-6
    with pytest.raises(IndexError):
        dataset[5]


def test_missing_store_says_how_to_create_it(tmp_path: Path) -> None:
    with pytest.raises(MissingFileError, match="mambano generate darcy"):
        Store(tmp_path, "darcy").manifest()


def test_process_and_dask_executors_write_the_same_bytes_as_a_serial_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mambano_core.data import store as store_module
    from mambano_core.data.executors import DaskExecutor, ProcessExecutor

    monkeypatch.setattr(store_module, "CHUNK_SIZE", 3)
    counts = {"train": 8, "test_ood": 5}
    serial = generate_store("transport_discontinuous", tmp_path / "serial", 16, counts, splits=counts)
    processes = generate_store("transport_discontinuous", tmp_path / "proc", 16, counts, splits=counts,
                               executor=ProcessExecutor(2))
    dask = DaskExecutor("local", workers=2)
    try:
        on_dask = generate_store("transport_discontinuous", tmp_path / "dask", 16, counts, splits=counts, executor=dask)
    finally:
        dask.close()
    for split in counts:
        reference = sha256_file(serial.path(split, 16))
        assert sha256_file(processes.path(split, 16)) == reference
        assert sha256_file(on_dask.path(split, 16)) == reference
