"""A model as the CLI's user names it: its id, or its (unique) name."""

from __future__ import annotations

from app.cli.http import ApiClient, segment
from app.cli.output import fail

ID_CHARS = frozenset("0123456789abcdef")


def looks_like_id(ref: str) -> bool:
    return len(ref) == 32 and set(ref) <= ID_CHARS


def resolve_model(client: ApiClient, ref: str) -> str:
    """The model's id: ``ref`` itself if it is one, else the id of the model named ``ref``
    (``GET /v1/models?name=``); no such model ends the command with a message."""
    if looks_like_id(ref):
        return ref
    found = client.get_json("/v1/models", params={"name": ref}).get("items") or []
    if not found:
        raise fail(f"no model named {ref!r} (and it is not a model id)")
    return str(found[0]["id"])


def model_path(client: ApiClient, ref: str) -> str:
    """``/v1/models/{id}`` of the model ``ref`` names."""
    return f"/v1/models/{segment(resolve_model(client, ref))}"
