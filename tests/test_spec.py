"""Run-spec validation: unknown keys, invalid values, malformed YAML, overrides, examples."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mambano_core.errors import MissingFileError, SpecError
from mambano_core.training.spec import load_spec, spec_from_dict

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.yaml"))
MINIMAL = {"data": {"benchmark": "poisson"}, "model": {"name": "unet"}}


def test_minimal_spec_gets_the_paper_protocol_defaults() -> None:
    spec = spec_from_dict(dict(MINIMAL))
    assert (spec.training.lr, spec.training.weight_decay, spec.training.batch_size) == (1e-3, 1e-6, 16)
    assert (spec.training.scheduler_step, spec.training.scheduler_gamma, spec.training.patience) == (10, 0.98, 200)
    assert spec.run_name == "poisson-unet"


def test_unknown_keys_are_listed_with_their_path() -> None:
    raw = {"data": {"benchmark": "poisson", "resolutoin": 64}, "model": {"name": "unet"}, "extra": 1}
    with pytest.raises(SpecError) as info:
        spec_from_dict(raw, source="s.yaml")
    message = str(info.value)
    assert "data.resolutoin: unknown key" in message
    assert "extra: unknown key" in message
    assert "2 problem(s)" in message


def test_invalid_values_and_missing_sections_are_reported() -> None:
    with pytest.raises(SpecError) as info:
        spec_from_dict({"data": {"benchmark": "poisson", "resolution": 4}, "training": {"epochs": -1}})
    message = str(info.value)
    assert "data.resolution" in message and "greater than or equal to 8" in message
    assert "training.epochs" in message
    assert "model: required key is missing" in message


def test_malformed_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("data:\n  benchmark: poisson\n model: [unclosed\n")
    with pytest.raises(SpecError, match=r"not valid YAML at line \d+"):
        load_spec(path)


def test_a_yaml_list_is_not_a_spec(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- 1\n- 2\n")
    with pytest.raises(SpecError, match="must be a YAML mapping"):
        load_spec(path)


def test_missing_spec_file(tmp_path: Path) -> None:
    with pytest.raises(MissingFileError):
        load_spec(tmp_path / "nope.yaml")


def test_dotted_overrides_parse_yaml_values(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(MINIMAL))
    spec = load_spec(path, ["training.epochs=5", "model.args.channels=4", "training.lr=2e-4", "output.name=x"])
    assert spec.training.epochs == 5
    assert spec.model.args == {"channels": 4}
    assert spec.training.lr == pytest.approx(2e-4)
    assert spec.run_name == "x"


@pytest.mark.parametrize("override", ["training.epochs", "=3", "data.benchmark.sub=1"])
def test_malformed_overrides(tmp_path: Path, override: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(MINIMAL))
    with pytest.raises(SpecError):
        load_spec(path, [override])


def test_override_of_unknown_key_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(MINIMAL))
    with pytest.raises(SpecError, match="training.epoch: unknown key"):
        load_spec(path, ["training.epoch=3"])


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_example_spec_is_valid_and_names_a_known_benchmark_and_model(example: Path) -> None:
    from mambano_core.data.benchmarks import get_benchmark
    from mambano_core.models.registry import model_class

    spec = load_spec(example)
    get_benchmark(spec.data.benchmark)
    model_class(spec.model.name)


def test_there_is_an_example_per_exact_benchmark() -> None:
    names = {load_spec(p).data.benchmark for p in EXAMPLES}
    assert {"poisson", "wave", "transport_smooth", "transport_discontinuous"} <= names


def test_model_arguments_that_are_data_facts_come_from_the_data() -> None:
    """DeepONet and FFNN read the training grid: a hand-written spec without model.args.resolution
    used to build them for 64^2 and fail inside the first forward pass on 32^2 data (exit 1)."""
    spec = spec_from_dict({"data": {"benchmark": "transport_smooth", "resolution": 32}, "model": {"name": "deeponet"}})
    assert spec.model.args["resolution"] == 32 and spec.model.args["boundary"] == "periodic"
    assert spec_from_dict({"data": {"benchmark": "poisson", "resolution": 32},
                           "model": {"name": "ffnn", "args": {"resolution": 32}}}).model.args == {"resolution": 32}
    with pytest.raises(SpecError, match=r"model.args.resolution is 64 but the data's is 32"):
        spec_from_dict({"data": {"benchmark": "poisson", "resolution": 32}, "model": {"name": "ffnn", "args": {"resolution": 64}}})
    assert "resolution" not in spec_from_dict(dict(MINIMAL)).model.args  # UNet takes any grid
