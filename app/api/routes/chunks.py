"""``/v1/models/{id}/chunks``: submit a data chunk (202 + a queued job), list chunks.

The upload route reads the request body itself (``app/api/upload_stream.py``) instead of
declaring ``UploadFile``: that way it streams to disk and stops at the size limit; the
multipart schema is documented through ``openapi_extra``. Each upload has its own
temporary folder (``app/api/upload_folders.py``); the router's lifespan sweeps the folders
a killed API left.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, status
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from app.api.deps import SessionDep, SessionmakerDep, SettingsDep, StoreDep, TasksDep
from app.api.paging import PageDep
from app.api.upload_folders import sweep_at_start, upload_folder
from app.api.upload_stream import FILE_FIELD, receive_multipart
from app.errors import InvalidInput
from app.schemas.chunks import ChunkAccepted, ChunkList, ChunkPublic
from app.schemas.models import checked_updater
from app.schemas.problem import problem_responses
from app.schemas.updaters import UpdaterSpec
from app.services import chunks as service
from app.services.resources import ResourceLimits, ensure_within_limits

router = APIRouter(prefix="/v1/models/{model_id}/chunks", tags=["chunks"], lifespan=sweep_at_start)

UPDATER_FIELD = "updater"
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        pattern=r"^[\x21-\x7e]+$",
        description="Retrying with the same key returns the original job.",
    ),
]
MULTIPART_SCHEMA: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": [FILE_FIELD],
                    "properties": {
                        FILE_FIELD: {
                            "type": "string",
                            "format": "binary",
                            "description": ".npz or .safetensors with x, y "
                            "and optionally x_eval, y_eval.",
                        },
                        UPDATER_FIELD: {
                            "type": "string",
                            "description": 'JSON {"name", "params"}: this job\'s updater '
                            "instead of the model's.",
                        },
                    },
                }
            }
        },
    }
}


def parse_updater_field(raw: str | None) -> UpdaterSpec | None:
    if raw is None:
        return None
    try:
        value = json.loads(raw, parse_constant=_reject_constant)
    except ValueError as exc:
        raise InvalidInput(f"updater: not valid JSON ({exc})", field=UPDATER_FIELD) from None
    except RecursionError:  # nested deeper than the parser's recursion allows
        raise InvalidInput("updater: JSON nested too deeply", field=UPDATER_FIELD) from None
    return checked_updater(value, UPDATER_FIELD)


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows")


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ChunkAccepted,
    openapi_extra=MULTIPART_SCHEMA,
    responses=problem_responses(400, 404, 409, 413, 415, 422, 503),
)
async def submit_chunk(
    model_id: str,
    request: Request,
    sessions: SessionmakerDep,
    store: StoreDep,
    tasks: TasksDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Validate the chunk, store it, queue a job. 202 with ``Location: /v1/jobs/{id}``."""
    target = await run_in_threadpool(service.upload_target, sessions=sessions, model_id=model_id)
    with upload_folder() as folder:
        upload = await receive_multipart(
            request,
            folder=folder,
            allowed_fields={UPDATER_FIELD},
            max_file_bytes=settings.max_chunk_bytes,
        )
        if upload.file is None:
            raise InvalidInput("file: a multipart part named 'file' is required", field="file")
        updater = parse_updater_field(upload.fields.get(UPDATER_FIELD))
        if updater is not None:  # this job's memory, as the model's own is at registration
            ensure_within_limits(target.architecture, updater, ResourceLimits.of(settings))
        submitted = await run_in_threadpool(
            service.submit_chunk,
            sessions=sessions,
            store=store,
            tasks=tasks,
            target=target,
            file=upload.file,
            updater=updater,
            idempotency_key=idempotency_key,
            limits=service.chunk_limits(settings),
        )
    headers = {"Location": f"/v1/jobs/{submitted.accepted.job_id}"}
    if submitted.replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(
        submitted.accepted.model_dump(), status_code=status.HTTP_202_ACCEPTED, headers=headers
    )


@router.get("", response_model=ChunkList, responses=problem_responses(404, 422))
def list_chunks(model_id: str, session: SessionDep, page: PageDep) -> ChunkList:
    found = service.list_chunks(session=session, model_id=model_id, page=page)
    return ChunkList(
        items=[ChunkPublic.model_validate(c, from_attributes=True) for c in found.items],
        next_cursor=found.next_cursor,
    )
