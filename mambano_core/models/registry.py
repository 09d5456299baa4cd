"""Model registry: every model is built from a name and JSON-serialisable keyword arguments.

A registered model class must
- accept only JSON-serialisable keyword arguments (numbers, strings, lists, bools, None),
  among them ``in_channels`` and ``out_channels``;
- map a tensor of shape ``(batch, in_channels, H, W)`` to ``(batch, out_channels, H, W)``.

Checkpoints store the name and the arguments, so a model is rebuilt without its caller
knowing its constructor. A class that gains an argument after a release declares, in
``ARGS_BEFORE_ADDED``, the value that rebuilds the network an older checkpoint (whose stored
arguments lack it) holds: :func:`stored_model_args` fills it in.

A model whose prediction leaves it through a batch norm exposes it as ``output_norm`` (the
trainer can start its affine from the training targets' statistics). A class with named
variants (MambaNO's configurations) gives ``configuration_name(args)``, so that tables say which
one a run trained.
"""

from __future__ import annotations

import json
from typing import Any, Callable, TypeVar

from torch import nn

from mambano_core.errors import SpecError
from mambano_core.registry import Registry

ModelClass = TypeVar("ModelClass", bound=type[nn.Module])

_PACKAGE = "mambano_core.models"
#: The built-in models, in the order tables list them (MambaNO first, then CNO's reference table).
MODELS: Registry[nn.Module] = Registry("model", nn.Module, {
    "mambano": f"{_PACKAGE}.mambano:MambaNO",
    "cno": f"{_PACKAGE}.cno:CNO",
    "fno": f"{_PACKAGE}.fno:FNO",
    "deeponet": f"{_PACKAGE}.deeponet:DeepONet",
    "galerkin_transformer": f"{_PACKAGE}.galerkin_transformer:GalerkinTransformer",
    "unet": f"{_PACKAGE}.unet:UNet",
    "resnet": f"{_PACKAGE}.resnet:ResNet",
    "ffnn": f"{_PACKAGE}.ffnn:FFNN",
})


def register_model(name: str) -> Callable[[ModelClass], ModelClass]:
    """Class decorator registering a model of your own under ``name`` (lower case)."""

    def decorate(cls: ModelClass) -> ModelClass:
        MODELS.register(name, cls)
        return cls

    return decorate


def available_models() -> list[str]:
    """Names of all registered models, in registration order."""
    return MODELS.names()


def model_class(name: str) -> type[nn.Module]:
    """The class registered under ``name``; :class:`SpecError` if there is none."""
    return MODELS.get(name)


def build_model(name: str, args: dict[str, Any] | None = None) -> nn.Module:
    """Build the model ``name`` with keyword arguments ``args``.

    Raises
    ------
    SpecError
        If the name is unknown, the arguments are not JSON-serialisable, or the
        constructor rejects them.
    """
    args = dict(args or {})
    try:
        json.dumps(args)
    except TypeError as exc:
        raise SpecError(f"model arguments must be JSON-serialisable: {exc}") from None
    cls = model_class(name)
    try:
        return cls(**args)
    except (TypeError, ValueError) as exc:
        raise SpecError(f"invalid arguments for model {name!r}: {exc}") from None


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def resolved_model_args(name: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
    """``args`` completed with the constructor's defaults, so a checkpoint does not depend on them."""
    import inspect

    resolved = dict(args or {})
    for param in inspect.signature(model_class(name).__init__).parameters.values():
        if param.name == "self" or param.kind in (param.VAR_KEYWORD, param.VAR_POSITIONAL):
            continue
        if param.name not in resolved and param.default is not inspect.Parameter.empty:
            resolved[param.name] = param.default
    try:
        return json.loads(json.dumps(resolved))
    except TypeError:
        return dict(args or {})


def stored_model_args(name: str, args: dict[str, Any]) -> dict[str, Any]:
    """Arguments read from a checkpoint, completed for arguments added after it was written.

    A checkpoint stores every constructor argument (:func:`resolved_model_args`), so a missing
    one did not exist then; the class's ``ARGS_BEFORE_ADDED`` gives the value that rebuilds
    the network of that time (not today's default, which may build another one).
    """
    before = getattr(model_class(name), "ARGS_BEFORE_ADDED", {})
    return {**{key: value for key, value in before.items() if key not in args}, **args}


def model_configuration(name: str, args: dict[str, Any]) -> str | None:
    """The named configuration that ``args`` build, ``custom`` if none, None for models without names."""
    namer = getattr(model_class(name), "configuration_name", None)
    if namer is None:
        return None
    return namer(args) or "custom"
