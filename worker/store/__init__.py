"""The worker's queries, one module a concept, joined by ``worker.job_store.JobStore``."""
