"""Building the ``POST /v1/models`` body from ``relearn models create``'s options.

Only what the user gave is sent: the API fills every default and validates every value,
so its 422 (naming e.g. ``architecture.params.input_dim``) is the one source of truth.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import typer


def parse_value(text: str) -> Any:
    """``200`` → 200, ``0.5`` → 0.5, ``true`` → True, ``[1,2]`` → [1, 2]; anything that is
    not JSON stays a string (``adam`` → ``"adam"``)."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_assignments(items: Iterable[str], option: str) -> dict[str, Any]:
    """``["memory_size=200", "alpha=0.3"]`` → ``{"memory_size": 200, "alpha": 0.3}``."""
    result: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint=option)
        result[key.strip()] = parse_value(value.strip())
    return result


def parse_widths(text: str, option: str) -> list[int]:
    """``256,256`` → [256, 256] (``--hidden``, ``--channels``, ``--input-shape``)."""
    try:
        return [int(part) for part in text.replace(" ", "").split(",") if part]
    except ValueError:
        raise typer.BadParameter(
            f"expected comma-separated integers such as 256,256, got {text!r}",
            param_hint=option,
        ) from None


def parse_hidden(text: str) -> list[int]:
    """``256,256`` → [256, 256]; an empty string means no hidden layer."""
    return parse_widths(text, "--hidden")


def read_json_object(source: Path, option: str) -> dict[str, Any]:
    """A JSON object from a file, or from standard input when ``source`` is ``-``."""
    try:
        text = typer.get_text_stream("stdin").read() if str(source) == "-" else source.read_text()
    except OSError as exc:
        raise typer.BadParameter(
            f"cannot read {source}: {exc.strerror}", param_hint=option
        ) from None
    try:
        body = json.loads(text)
    except ValueError as exc:
        raise typer.BadParameter(f"{source} is not valid JSON: {exc}", param_hint=option) from None
    if not isinstance(body, dict):
        raise typer.BadParameter(f"{source} must hold a JSON object", param_hint=option)
    return body


def section(body: dict[str, Any], key: str) -> dict[str, Any]:
    value = body.setdefault(key, {})
    if not isinstance(value, dict):
        raise typer.BadParameter(f"{key!r} in the JSON body must be an object", param_hint="--json")
    return value


def build_model_body(
    *,
    base: dict[str, Any] | None,
    name: str | None,
    architecture: str | None,
    architecture_params: dict[str, Any],
    updater: str | None,
    updater_params: dict[str, Any],
    training: dict[str, Any],
) -> dict[str, Any]:
    """The body: ``base`` (from ``--json``) with every option the user gave laid over it."""
    body: dict[str, Any] = dict(base or {})
    if name is not None:
        body["name"] = name
    if architecture is not None or architecture_params:
        arch = section(body, "architecture")
        if architecture is not None:
            arch["name"] = architecture
        if architecture_params:
            arch["params"] = {**(arch.get("params") or {}), **architecture_params}
    if updater is not None or updater_params:
        spec = section(body, "updater")
        if updater is not None:
            spec["name"] = updater
        if updater_params:
            spec["params"] = {**(spec.get("params") or {}), **updater_params}
    given = {key: value for key, value in training.items() if value is not None}
    if given:
        section(body, "training").update(given)
    return body
