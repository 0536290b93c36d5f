"""``{"name", "params"}`` specs as unions tagged by ``name``: one schema per variant.

pydantic picks the variant with a discriminator function that returns one of our tags
(``tag:er``), and names that tag in an error's location (``updater.tag:der.params.alpha``);
``without_tags`` drops it again, so that a client reads the path it sent
(``updater.params.alpha``). ``NameDiscriminated`` writes the union's JSON schema as
OpenAPI's ``discriminator`` on ``name`` and leaves out the variants that only exist to
reject a name.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

TAG_PREFIX = "tag:"
NAME = "name"


def tag(name: str) -> str:
    return TAG_PREFIX + name


def without_tags(loc: Sequence[str | int]) -> tuple[str | int, ...]:
    """An error location without the union tags pydantic put in it."""
    return tuple(p for p in loc if not (isinstance(p, str) and p.startswith(TAG_PREFIX)))


def spec_name(value: Any, default: str) -> Any:
    """The ``name`` of a raw spec (a dict) or of a validated one; ``default`` if absent."""
    if isinstance(value, dict):
        return value.get(NAME, default)
    return getattr(value, NAME, None)


def with_default_name(default: str) -> Any:
    """A before-validator: a dict spec without ``name`` gets ``default``."""

    def fill(value: Any) -> Any:
        if isinstance(value, dict) and NAME not in value:
            return {NAME: default, **value}
        return value

    return fill


class NameDiscriminated:
    """The union's JSON schema: ``oneOf`` its variants but the hidden ones (given by
    position, in the union's order), with a ``discriminator`` mapping each name to its
    schema when every shown variant has a fixed name (``None``: any other name)."""

    def __init__(self, names: Sequence[str | None], hidden: Sequence[int] = ()) -> None:
        self.names = list(names)
        self.hidden = set(hidden)

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        choices = schema.get("oneOf") or schema.get("anyOf") or []
        if len(choices) != len(self.names):
            return schema
        shown = [
            (name, choice)
            for i, (name, choice) in enumerate(zip(self.names, choices, strict=True))
            if i not in self.hidden
        ]
        out = {k: v for k, v in schema.items() if k not in ("oneOf", "anyOf")}
        out["oneOf"] = [choice for _, choice in shown]
        if all(name is not None and "$ref" in choice for name, choice in shown):
            out["discriminator"] = {
                "propertyName": NAME,
                "mapping": {name: choice["$ref"] for name, choice in shown},
            }
        return out
