"""schemathesis over the API's own OpenAPI document: no generated request, valid or not,
makes the API answer 5xx; the chunk endpoints also answer as they document.

Bounded and repeatable: a fixed number of examples per operation and generation mode,
derandomized (a fixed seed), no example database. Each operation runs against unknown ids
(404s) and against a model and job that exist, so handlers past the look-up run too.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error, positive_data_acceptance

from app.api.main import create_app
from app.db.migrate import upgrade_to_head
from tests.api.harness import Api, embedded_settings
from tests.api.jobs_helpers import submit
from tests.api.payloads import model_body

EXAMPLES = 25
# The operations whose conformance (status codes, content types, headers, bodies) is
# checked too; the others are checked for server errors only.
CONFORMANCE_CHECKED = {"POST /v1/models/{model_id}/chunks", "GET /v1/models/{model_id}/chunks"}
# A random file can match the upload's schema (a binary string) and still not be a chunk:
# its 422 is right, so "schema-valid data must be accepted" does not apply there.
NOT_APPLICABLE: dict[str, list[Any]] = {
    "POST /v1/models/{model_id}/chunks": [positive_data_acceptance],
}
# Streams until the job ends; with a job that exists and stays queued, it would not end.
STREAMS_WHILE_THE_JOB_LIVES = "GET /v1/jobs/{job_id}/events"


@pytest.fixture
def app_with_data(relearn_home: Path) -> tuple[FastAPI, dict[str, str]]:
    """The app on embedded defaults, with one model and one queued chunk job."""
    app_settings = embedded_settings(relearn_home)
    upgrade_to_head(app_settings.database_url)
    app = create_app(app_settings)
    with TestClient(app) as client:
        api = Api(client=client, settings=app_settings, backend="embedded")
        model = api.client.post("/v1/models", json=model_body()).json()
        job_id = submit(api, model["id"])
    return app, {"model_id": model["id"], "job_id": job_id}


def run_operation(
    operation: Any, mode: GenerationMode, known: dict[str, str] | None, found: list[str]
) -> None:
    label = operation.label
    path_parameters = None
    if known is not None:
        path_parameters = {
            name: value for name, value in known.items() if "{" + name + "}" in operation.path
        }
    checks: list[Any] | None = None if label in CONFORMANCE_CHECKED else [not_a_server_error]

    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path_parameters))
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    def exercise(case: Any) -> None:
        try:
            response = case.call()
        except Exception as error:  # in-process, an unhandled error surfaces here: a 500
            found.append(f"{label} [{mode.value}] raised {error!r:.300}")
            return
        try:
            case.validate_response(
                response, checks=checks, excluded_checks=NOT_APPLICABLE.get(label)
            )
        except BaseException as failure:  # schemathesis's FailureGroup is a BaseException
            if isinstance(failure, KeyboardInterrupt):
                raise
            found.append(f"{label} [{mode.value}] {response.status_code}: {_first_line(failure)}")

    try:
        exercise()
    except Unsatisfiable:  # nothing in the operation to make invalid (GET /healthz)
        assert mode is GenerationMode.NEGATIVE


def _first_line(failure: BaseException) -> str:
    causes = getattr(failure, "exceptions", [failure])
    return "; ".join(str(cause).strip().splitlines()[0] for cause in causes)


def test_no_generated_request_is_a_server_error(
    app_with_data: tuple[FastAPI, dict[str, str]],
) -> None:
    # given: every operation of the OpenAPI document
    app, known = app_with_data
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 10
    found: list[str] = []
    runs: list[Callable[[], None]] = []
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            runs.append(lambda op=operation, m=mode: run_operation(op, m, None, found))
            if operation.label != STREAMS_WHILE_THE_JOB_LIVES:
                runs.append(lambda op=operation, m=mode: run_operation(op, m, known, found))

    # when
    for run in runs:
        run()

    # then
    assert found == [], "\n".join(found)
