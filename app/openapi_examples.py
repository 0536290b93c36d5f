"""Examples in the OpenAPI document for the main routes, by (path, method) and then by
response status (``request``: the JSON request body). tests/api/test_openapi.py checks
that each one is valid for its schema."""

from __future__ import annotations

from typing import Any

MODEL_ID = "3f2c9a7e0b5d4c1e8a6f2b9d7c4e1a05"
JOB_ID = "9b1d6e3a2c7f4085b4e9a1c3d5f7e2b8"
CHUNK_ID = "c4a8e2f6b0d94173a5c7e9b1d3f5a7c9"
CREATED = "2026-01-05T09:30:00Z"

MLP_ER = {
    "name": "digits",
    "architecture": {
        "name": "mlp",
        "params": {"input_dim": 64, "hidden": [128], "num_classes": 10},
    },
    "updater": {"name": "er", "params": {"memory_size": 500}},
    "training": {"epochs": 2, "batch_size": 32, "lr": 0.05},
}
CNN_DERPP = {
    "name": "cifar-der++",
    "architecture": {
        "name": "cnn",
        "params": {"input_shape": [3, 32, 32], "num_classes": 10},
    },
    "updater": {"name": "der", "params": {"memory_size": 2000, "alpha": 0.3, "beta": 0.5}},
    "training": {"epochs": 1, "optimizer": "sgd", "lr": 0.03},
    "promotion": {"alias": "production", "max_forgetting": 0.1},
}
ER_PARAMS = {
    "memory_size": 500,
    "memory_batch_size": None,
    "memory_policy": "class_balanced",
    "memory_update": "after_fit",
}
TRAINING = {
    "epochs": 2,
    "batch_size": 32,
    "lr": 0.05,
    "optimizer": "sgd",
    "momentum": 0.0,
    "weight_decay": 0.0,
    "seed": 0,
    "eval_batch_size": 1024,
    "mixed_precision": True,
}
MODEL_CREATED = {
    "id": MODEL_ID,
    "name": "digits",
    "latest_version": 0,
    "status": "initialising",
    "error": None,
    "architecture": MLP_ER["architecture"],
    "updater": {"name": "er", "params": ER_PARAMS},
    "training": TRAINING,
    "chunk_count": 0,
    "promotion": None,
    "retention": None,
    "created_at": CREATED,
}
CHUNK_ACCEPTED = {"job_id": JOB_ID, "chunk_id": CHUNK_ID, "status": "queued"}
BAD_PARAM = {
    "type": "about:blank",
    "title": "Invalid input",
    "status": 422,
    "detail": "updater.params.alpha: Input should be greater than or equal to 0",
    "instance": f"/v1/models/{MODEL_ID}/chunks",
    "field": "updater.params.alpha",
    "errors": [
        {"field": "updater.params.alpha", "reason": "Input should be greater than or equal to 0"}
    ],
}
JOB_SUCCEEDED = {
    "id": JOB_ID,
    "model_id": MODEL_ID,
    "chunk_id": CHUNK_ID,
    "kind": "update",
    "seq": 2,
    "status": "succeeded",
    "progress": 1.0,
    "loss_curve": [{"progress": 0.5, "loss": 1.21}, {"progress": 1.0, "loss": 0.64}],
    "updater": {"name": "er", "params": ER_PARAMS},
    "metrics": {
        "accuracy": [0.91, 0.88],
        "chunk_ids": ["a1b2c3d4e5f60718293a4b5c6d7e8f90", CHUNK_ID],
        "average_accuracy": 0.895,
        "train": {
            "steps": 64,
            "samples": 2048,
            "seconds": 1.9,
            "samples_per_second": 1077.9,
            "loss_curve": [1.02, 0.64],
            "memory_filled": 500.0,
        },
        "state_reset": False,
        "device": "cuda:0",
        "timings": {"load_s": 0.12, "fit_s": 1.9, "eval_s": 0.08, "write_s": 0.05},
        "promotion": {
            "promoted": True,
            "reasons": ["forgetting 0.0300 passes <= 0.1"],
        },
    },
    "error": None,
    "base_version": 1,
    "result_version": 2,
    "attempts": 1,
    "created_at": CREATED,
    "started_at": "2026-01-05T09:30:01Z",
    "finished_at": "2026-01-05T09:30:04Z",
}


def example(summary: str, value: Any) -> dict[str, Any]:
    return {"summary": summary, "value": value}


EXAMPLES: dict[tuple[str, str], dict[str, dict[str, Any]]] = {
    ("/v1/models", "post"): {
        "request": {
            "mlp-er": example("An MLP on flat features, with Experience Replay", MLP_ER),
            "cnn-derpp": example("A CNN with DER++ and a promotion gate", CNN_DERPP),
        },
        "201": {"initialising": example("Registered; a worker makes version 0", MODEL_CREATED)},
    },
    ("/v1/models/{model_id}/chunks", "post"): {
        "202": {"queued": example("Accepted; follow the job", CHUNK_ACCEPTED)},
        "422": {"bad-param": example("A hyperparameter out of bounds", BAD_PARAM)},
    },
    ("/v1/jobs/{job_id}", "get"): {
        "200": {"succeeded": example("An update that published version 2", JOB_SUCCEEDED)},
    },
}
