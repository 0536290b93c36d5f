"""What ``GET /metrics`` tells Prometheus about the service.

Two sources, chosen so that the figures stay right with several API processes and workers
on other machines: job figures are SQL aggregates over the database, read at scrape time
(``database.py``); HTTP requests are counted by each API process (``http.py``), pooled
across processes by prometheus_client's multiprocess mode when ``PROMETHEUS_MULTIPROC_DIR``
is set (``exposition.py``).
"""
