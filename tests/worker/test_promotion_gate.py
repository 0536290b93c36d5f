"""The promotion gate, decided in the publish transaction on real training: a naive
update on new classes forgets the old ones, and the gate keeps ``production`` where it
was, saying why."""

from __future__ import annotations

import torch
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.db.models import Alias, Job, Model
from app.promotion import decide, largest_drop
from app.storage import ObjectStore
from tests.e2e.data import class_incremental_chunks, model_body
from tests.worker.factories import add_chunk, create_model
from worker.job_runner import JobRunner

GATED = {
    **model_body("gated", {"name": "naive", "params": {}}, epochs=30),
    "promotion": {"alias": "production", "max_accuracy_drop": 0.2},
}


def test_an_update_that_forgets_is_published_but_not_promoted(
    sessions: sessionmaker[Session], store: ObjectStore
) -> None:
    # given: a gated model with two class-incremental chunks and a naive updater
    model_id = create_model(sessions, store, GATED)
    with sessions.begin() as session:  # as POST /v1/models stores the policy
        model = session.get(Model, model_id)
        assert model is not None
        model.promotion = GATED["promotion"]
    jobs = [add_chunk(sessions, store, model_id, c) for c in class_incremental_chunks(2)]

    # when
    JobRunner(sessions=sessions, store=store, device=torch.device("cpu"), owner="w1").process_model(
        model_id
    )

    # then: version 1 was promoted (no earlier chunk to forget), version 2 refused with its
    # reason, and production still serves version 1 while latest is 2
    with sessions() as session:
        first, second = (session.get(Job, j) for j in jobs)
        assert first is not None and second is not None
        assert first.metrics["promotion"]["promoted"] is True
        assert second.status == "succeeded" and second.result_version == 2
        refused = second.metrics["promotion"]
        assert refused["promoted"] is False
        assert any("max_accuracy_drop" in r and "fails" in r for r in refused["reasons"])
        alias = session.scalar(select(Alias).where(Alias.model_id == model_id))
        assert alias is not None and (alias.name, alias.version) == ("production", 1)


def test_decide_checks_each_bound_and_passes_undefined_ones() -> None:
    # given: chunk 0 learnt to 0.9, then forgotten down to 0.5 while chunk 1 reached 0.8
    matrix = [[0.9], [0.5, 0.8]]
    # when / then
    assert largest_drop(matrix) == 0.9 - 0.5
    refused = decide({"alias": "p", "max_forgetting": 0.1, "min_average_accuracy": 0.6}, matrix)
    assert not refused.promoted
    assert refused.reasons == [
        "average_accuracy 0.6500 passes >= 0.6",
        "forgetting 0.4000 fails <= 0.1",
    ]
    first = decide({"alias": "p", "max_forgetting": 0.1}, [[0.9]])
    assert first.promoted and "undefined" in first.reasons[0]
    assert decide({"alias": "p", "max_accuracy_drop": 0.5}, matrix).promoted
