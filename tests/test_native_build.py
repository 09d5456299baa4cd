"""ops/native: compile at first use, cache, and fall back with one notice line."""

from __future__ import annotations

import pytest

from mambano_core.ops.native import build


@pytest.fixture
def fresh_load():
    build.load.cache_clear()
    yield build.load
    build.load.cache_clear()


def test_without_a_compiler_load_is_none_with_a_notice(fresh_load, monkeypatch, caplog):
    monkeypatch.setattr(build, "_compiler", lambda: None)
    assert fresh_load("scan") is None
    assert fresh_load("scan") is None  # cached: one notice per process
    notices = [r for r in caplog.records if "no C compiler found" in r.getMessage()]
    assert len(notices) == 1 and notices[0].levelname == "WARNING"


def test_a_failing_build_is_none_with_a_notice(fresh_load, monkeypatch, tmp_path, caplog):
    monkeypatch.setenv(build.ENV_CACHE, str(tmp_path))
    monkeypatch.setattr(build, "CFLAGS", build.CFLAGS + ("-fthis-flag-does-not-exist",))
    assert fresh_load("scan") is None
    assert any("could not build the native scan kernels" in r.getMessage() for r in caplog.records)
    assert not list(tmp_path.glob("*.so"))  # nothing half-written left behind


def test_disabled_by_environment(fresh_load, monkeypatch):
    monkeypatch.setenv(build.ENV_NATIVE, "0")
    assert fresh_load("scan") is None


def test_built_once_then_reused_from_the_cache(fresh_load, monkeypatch, tmp_path):
    monkeypatch.setenv(build.ENV_CACHE, str(tmp_path))
    assert fresh_load("scan") is not None
    (built,) = tmp_path.glob("scan-*.so")
    stamp = built.stat().st_mtime_ns
    build.load.cache_clear()
    assert fresh_load("scan") is not None
    assert built.stat().st_mtime_ns == stamp and len(list(tmp_path.glob("*.so"))) == 1
