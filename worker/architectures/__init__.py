"""torch modules for the architectures a model can have.

Built-in and third-party architectures alike come from the ``relearn.architectures``
entry-point group: code is installed into the worker, never uploaded. An entry point
names an object (typically a module) with two attributes:

- ``Params``: a pydantic model of the params, with fields ``input_shape`` (list of ints,
  one sample's shape) and ``num_classes`` (int); its JSON schema is what the worker
  announces and what the API validates a model's params against;
- ``build(params: Params) -> nn.Module``: a module that maps a float32 batch
  ``(N, *input_shape)`` to logits ``(N, num_classes)``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Literal, Protocol

import torch
from pydantic import BaseModel
from torch import nn

from app.architectures import BUILTINS, ArchitectureSpec

log = logging.getLogger(__name__)

GROUP = "relearn.architectures"
CONVENTION_FIELDS = ("input_shape", "num_classes")


class TorchArchitecture(Protocol):
    """What an entry point names."""

    @property
    def Params(self) -> type[BaseModel]: ...

    @property
    def build(self) -> Callable[[Any], nn.Module]: ...


class ArchitectureNotInstalled(KeyError):
    """This worker cannot build the architecture (no such entry point)."""


@dataclass(frozen=True)
class Installed:
    """An architecture this worker can build, as it announces it."""

    name: str
    source: Literal["builtin", "entry-point"]
    params_schema: dict[str, Any]


def _load(name: str) -> TorchArchitecture:
    found = [ep for ep in entry_points(group=GROUP) if ep.name == name]
    if not found:
        raise ArchitectureNotInstalled(f"architecture {name!r} is not installed in this worker")
    loaded: TorchArchitecture = found[0].load()
    return loaded


def build_model(spec: ArchitectureSpec) -> nn.Module:
    """The torch module of ``spec``, with torch's default initialisation."""
    architecture = _load(spec.name)
    return architecture.build(architecture.Params.model_validate(spec.params))


def initial_model(spec: ArchitectureSpec, seed: int) -> nn.Module:
    """The module as its constructor initialises it, drawn from a CPU generator seeded
    with ``seed`` (the global RNG is restored afterwards): the same weights on every
    machine for the same seed."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_model(spec)


def installed() -> list[Installed]:
    """Every architecture this worker can build. An entry point that fails to load or
    breaks the convention is logged and left out."""
    out: dict[str, Installed] = {}
    for ep in sorted(entry_points(group=GROUP), key=lambda e: e.name):
        if ep.name in out:
            log.warning("architecture %r is declared twice; keeping the first", ep.name)
            continue
        try:
            architecture: TorchArchitecture = ep.load()
            schema = architecture.Params.model_json_schema()
            if not callable(architecture.build):
                raise TypeError("build is not callable")
        except Exception:
            log.exception("architecture entry point %r cannot be loaded", ep.value)
            continue
        source: Literal["builtin", "entry-point"] = (
            "builtin" if ep.name in BUILTINS else "entry-point"
        )
        missing = [f for f in CONVENTION_FIELDS if f not in schema.get("properties", {})]
        if source == "entry-point" and missing:
            log.error("architecture %r: its Params has no %s; not announced", ep.name, missing)
            continue
        out[ep.name] = Installed(name=ep.name, source=source, params_schema=schema)
    return list(out.values())
