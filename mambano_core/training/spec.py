"""Run specs: pydantic models for the data, model, training and output sections of a YAML file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mambano_core.errors import MissingFileError, SpecError


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataSpec(_Section):
    """Which benchmark store to train on."""

    benchmark: str = Field(description="benchmark name, e.g. poisson")
    root: Path = Field(Path("data"), description="root of the data stores (root/<benchmark>/)")
    resolution: int = Field(64, ge=8, description="training grid size")
    n_train: int | None = Field(None, ge=1, description="use the first n training samples (all: null)")
    n_val: int | None = Field(None, ge=1, description="use the first n validation samples (all: null)")
    num_workers: int = Field(0, ge=0, description="DataLoader worker processes")

    @field_validator("benchmark")
    @classmethod
    def _known_benchmark(cls, value: str) -> str:
        from mambano_core.data.benchmarks import available_benchmarks

        if value not in available_benchmarks():
            raise ValueError(f"unknown benchmark {value!r}; available: {', '.join(available_benchmarks())}")
        return value


class ModelSpec(_Section):
    """Which registered model to build, and its constructor arguments."""

    name: str = Field(description="registered model name, e.g. mambano, unet, resnet")
    args: dict[str, Any] = Field(default_factory=dict, description="JSON-serialisable constructor arguments")

    @field_validator("name")
    @classmethod
    def _known_model(cls, value: str) -> str:
        from mambano_core.models.registry import available_models

        if value.lower() not in available_models():
            raise ValueError(f"unknown model {value!r}; available: {', '.join(available_models())}")
        return value.lower()

    @field_validator("args")
    @classmethod
    def _json_serialisable(cls, value: dict[str, Any]) -> dict[str, Any]:
        json.dumps(value)
        return value


class TrainingSpec(_Section):
    """Optimisation protocol (defaults: the paper's, shared with CNO)."""

    epochs: int = Field(1000, ge=1)
    batch_size: int = Field(16, ge=1)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(1e-6, ge=0)
    scheduler_step: int = Field(10, ge=1, description="StepLR step size in epochs")
    scheduler_gamma: float = Field(0.98, gt=0, le=1)
    patience: int = Field(200, ge=1, description="early stopping: epochs without validation improvement")
    warmup_epochs: int = Field(0, ge=0, description="linear learning-rate warm-up over this many epochs (per step)")
    grad_clip: float | None = Field(None, gt=0, description="clip the total gradient norm to this value")
    seed: int = Field(0, ge=0)
    device: str = Field("auto", description="auto (CUDA when present), cpu, cuda, cuda:N")
    max_minutes: float | None = Field(None, gt=0, description="wall-time budget: the first step past it ends the epoch early, validates, checkpoints and stops")
    threads: int | None = Field(None, ge=1, description="CPU threads for torch (default: torch's)")
    recalibrate_bn: bool = Field(True, description="before every validation, recompute the batch-norm statistics of the current weights over the training set (precise BN; models without batch norm are untouched)")
    recalibrate_bn_batches: int | None = Field(None, ge=1, description="training batches the recalibration averages over, the first ones in a fixed order (null: the whole training set)")
    sync_batchnorm: bool = Field(False, description="in a job of several GPU processes, batch norm over the global batch (SyncBatchNorm) instead of each process's share")
    dist_timeout_s: float = Field(600.0, gt=0, description="seconds a process of a distributed job waits for the others before failing")
    init_output_norm: bool = Field(True, description="at a fresh start, set the affine of a model's output batch norm (MambaNO's) to the training targets' mean and standard deviation")


class OutputSpec(_Section):
    """Where runs are written."""

    runs_dir: Path = Field(Path("runs"), description="directory holding one folder per run")
    name: str | None = Field(None, description="run folder name inside runs_dir (default: <benchmark>-<model>)")

    @field_validator("name")
    @classmethod
    def _plain_name(cls, value: str | None) -> str | None:
        from mambano_core.training.run_dir import check_run_name

        if value is not None:
            try:
                check_run_name(value)
            except SpecError as exc:
                raise ValueError(str(exc)) from None
        return value


class RunSpec(_Section):
    """A whole run: data, model, training and output."""

    data: DataSpec
    model: ModelSpec
    training: TrainingSpec = Field(default_factory=TrainingSpec)
    output: OutputSpec = Field(default_factory=OutputSpec)

    @model_validator(mode="after")
    def _model_args_from_data(self) -> "RunSpec":
        """Fill, or check, model arguments that are facts of the data (the grid, the boundary).

        DeepONet and FFNN read the training grid (``resolution``); a model resampling its input
        needs the benchmark's ``boundary``. Missing ones are taken from ``data``; given ones must
        agree with it, else the model would fail inside its first forward pass.
        """
        import inspect

        from mambano_core.data.benchmarks import get_benchmark_class
        from mambano_core.models.registry import model_class

        parameters = inspect.signature(model_class(self.model.name).__init__).parameters
        facts = {"resolution": self.data.resolution}
        if "boundary" in parameters:
            facts["boundary"] = get_benchmark_class(self.data.benchmark).boundary
        for key, value in facts.items():
            if key not in parameters:
                continue
            given = self.model.args.get(key)
            if given is None:
                self.model.args[key] = value
            elif given != value:
                raise ValueError(
                    f"model.args.{key} is {given!r} but the data's is {value!r} "
                    f"({self.model.name} is built for its training data; leave model.args.{key} out "
                    "to take the data's)"
                )
        return self

    @property
    def run_name(self) -> str:
        """The run folder name."""
        return self.output.name or f"{self.data.benchmark}-{self.model.name}"

    @property
    def run_dir(self) -> Path:
        """The run folder."""
        return self.output.runs_dir / self.run_name

    def to_dict(self) -> dict[str, Any]:
        """A JSON/YAML-safe dict of the resolved spec."""
        return json.loads(self.model_dump_json())


_MAX_PROBLEMS = 20  # listed in one message
_MAX_QUOTE = 120  # characters of a user's value quoted back


def _clip(value: Any) -> str:
    """``repr(value)`` cut to a readable length (a value may be megabytes long)."""
    text = repr(value)
    return text if len(text) <= _MAX_QUOTE else f"{text[:_MAX_QUOTE]}... ({len(text):,} characters)"


def _format_validation_error(error: ValidationError, source: str) -> str:
    lines = [f"{source} has {error.error_count()} problem(s):"]
    for item in error.errors()[:_MAX_PROBLEMS]:
        where = ".".join(str(part) for part in item["loc"]) or "(top level)"
        if item["type"] == "extra_forbidden":
            message = "unknown key"
        elif item["type"] == "missing":
            message = "required key is missing"
        else:
            message = item["msg"].removeprefix("Value error, ")
            if "input" in item and not isinstance(item["input"], dict):
                message += f" (got {_clip(item['input'])})"
        lines.append(f"  - {where}: {message}")
    if error.error_count() > _MAX_PROBLEMS:
        lines.append(f"  ... and {error.error_count() - _MAX_PROBLEMS} more")
    return "\n".join(lines)


def _parse_override_value(text: str) -> Any:
    from mambano_core.safe_yaml import YAMLTooLarge, load_yaml

    try:
        return load_yaml(text)
    except yaml.YAMLError:
        return text
    except YAMLTooLarge as exc:
        raise SpecError(f"override value {_clip(text)}: {exc}") from None


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply dotted ``key.sub=value`` overrides (values parsed as YAML) to a raw spec dict."""
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SpecError(f"override {item!r} is not of the form section.key=value")
        parts = key.strip().split(".")
        node = raw
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise SpecError(f"override {item!r}: {part!r} is not a section")
            node = child
        node[parts[-1]] = _parse_override_value(value)
    return raw


def spec_from_dict(raw: Any, source: str = "spec", overrides: list[str] | None = None) -> RunSpec:
    """Validate a raw mapping (from YAML) into a :class:`RunSpec`; :class:`SpecError` if invalid."""
    if not isinstance(raw, dict):
        raise SpecError(f"{source} must be a YAML mapping with sections data, model, training, output")
    raw = apply_overrides(raw, overrides or [])
    try:
        return RunSpec.model_validate(raw)
    except ValidationError as exc:
        raise SpecError(_format_validation_error(exc, source)) from None


def load_spec(path: str | Path, overrides: list[str] | None = None) -> RunSpec:
    """Read and validate a YAML run spec, applying dotted overrides."""
    from mambano_core.safe_yaml import YAMLTooLarge, load_yaml

    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"spec file {str(path)!r} does not exist")
    try:
        raw = load_yaml(path.read_text())
    except YAMLTooLarge as exc:
        raise SpecError(f"{path}: {exc}") from None
    except UnicodeDecodeError:
        raise SpecError(f"{path} is not a text file (a YAML run spec is expected)") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError(f"{path} is not valid YAML{where}: {problem}") from None
    return spec_from_dict(raw, source=str(path), overrides=overrides)


def dump_spec(spec: RunSpec, path: str | Path) -> None:
    """Write the resolved spec as YAML (atomically)."""
    from mambano_core.io_utils import atomic_write_text

    atomic_write_text(Path(path), yaml.safe_dump(spec.to_dict(), sort_keys=False))
