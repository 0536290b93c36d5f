"""torch modules for the architectures a model can have.

Built-in and third-party architectures alike come from the ``relearn.architectures``
entry-point group (``params -> nn.Module``): code is installed into the worker, never
uploaded.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

from torch import nn


def build_model(name: str, params: dict[str, Any]) -> nn.Module:
    found = {ep.name: ep for ep in entry_points(group="relearn.architectures")}
    if name not in found:
        raise KeyError(f"architecture {name!r} is not installed in this worker")
    return found[name].load()(params)
