"""Every query the worker runs, each method one transaction.

The job runner, the tasks, the heartbeat and the reconciler call these named methods and
hold no SQL of their own (the lease's conditional UPDATEs are ``worker.lease``, composed
here). Policy stays with the callers: they pass the attempt limit and the lease owner, and
a lost lease comes back as ``False`` for them to act on.

The queries live in ``worker/store/``, one module a concept; ``JobStore`` only joins them
over one sessionmaker. Each part holds nothing but that sessionmaker and overrides nothing,
so a caller that needs one concept can take that part's type and still be handed a
``JobStore``.
"""

from __future__ import annotations

from dataclasses import dataclass

from worker.store.attempts import AttemptQueries
from worker.store.claims import ClaimQueries
from worker.store.leases import LeaseQueries
from worker.store.programs import ProgramQueries
from worker.store.publication import PublicationQueries
from worker.store.reconciliation import ReconcileQueries
from worker.store.workers import WorkerQueries


@dataclass(frozen=True)
class JobStore(
    LeaseQueries,
    ClaimQueries,
    AttemptQueries,
    PublicationQueries,
    ProgramQueries,
    WorkerQueries,
    ReconcileQueries,
):
    """The worker's queries over one database."""
