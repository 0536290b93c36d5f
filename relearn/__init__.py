"""The Python client of the relearn service: ``from relearn import Client``.

Talks to a running relearn API over HTTP (``httpx``); never imports torch unless you ask
for weights as tensors or a module (``Client.load_state_dict``, ``Client.load_module``).
"""

from relearn.client import Client
from relearn.errors import (
    APIError,
    ChecksumMismatch,
    Conflict,
    FieldError,
    InvalidRequest,
    JobFailed,
    NotFound,
    RelearnError,
    ServerUnreachable,
    Unauthorized,
    WaitTimeout,
)
from relearn.models import Alias, Architecture, Artifact, Chunk, Job, Metrics, Model, Version

__all__ = [
    "APIError",
    "Alias",
    "Architecture",
    "Artifact",
    "ChecksumMismatch",
    "Chunk",
    "Client",
    "Conflict",
    "FieldError",
    "InvalidRequest",
    "Job",
    "JobFailed",
    "Metrics",
    "Model",
    "NotFound",
    "RelearnError",
    "ServerUnreachable",
    "Unauthorized",
    "Version",
    "WaitTimeout",
]
