"""What the server under test offers, read from its OpenAPI document.

Some endpoints the client speaks come from other issues (aliases, list pagination,
``?name=``, pretrained weights). Their tests ask here and skip, saying which, until the
server has them; the client code for them follows the design's contract.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest


def template(path: str) -> str:
    """``/v1/models/{model_id}`` → ``/v1/models/{}``."""
    return re.sub(r"\{[^}]*\}", "{}", path)


@dataclass(frozen=True)
class Capabilities:
    openapi: dict[str, Any]

    def operation(self, method: str, path: str) -> dict[str, Any] | None:
        """The operation at ``path``, whatever its parameters are called there."""
        for served, operations in self.openapi.get("paths", {}).items():
            if template(served) == template(path):
                found = operations.get(method.lower())
                return found if isinstance(found, dict) else None
        return None

    def has(self, method: str, path: str) -> bool:
        return self.operation(method, path) is not None

    def has_query(self, method: str, path: str, name: str) -> bool:
        operation = self.operation(method, path) or {}
        return any(
            p.get("in") == "query" and p.get("name") == name
            for p in operation.get("parameters", [])
        )

    def accepts(self, method: str, path: str, media_type: str) -> bool:
        operation = self.operation(method, path) or {}
        return media_type in operation.get("requestBody", {}).get("content", {})

    def require(self, available: bool, what: str) -> None:
        if not available:
            pytest.skip(f"the server has no {what} yet (another issue adds it)")
