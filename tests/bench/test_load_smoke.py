"""``bench/load.py`` at a tiny size: it starts the service, loads it, and reports every
route it hit with its percentiles and statuses, the API's memory and the jobs' outcome.
Shape only: no timing is asserted (figures live in BENCHMARKS.md)."""

from __future__ import annotations

from bench.load import main


def test_a_tiny_load_run_reports_each_route_memory_and_jobs() -> None:
    # given / when: two models, four uploads and eight reads from two threads
    result = main(["--models", "2", "--uploads", "4", "--reads", "8", "--concurrency", "2"])

    # then: each upload was accepted, recorded under its route, and applied
    uploads = result["routes"]["POST /v1/models/{id}/chunks"]
    assert uploads["count"] == 4 and uploads["statuses"] == {"202": 4}
    assert result["jobs"] == {"succeeded": 4, "not final": 0}
    # and every request is counted under one route, with ordered percentiles and no 5xx
    assert sum(row["count"] for row in result["routes"].values()) == 4 + 8
    for row in result["routes"].values():
        assert 0 < row["p50_ms"] <= row["p99_ms"]
        assert all(int(status) < 500 for status in row["statuses"])
    # and the API's memory was read: a peak at least the resident size before the load
    rss = result["api_rss_mib"]
    assert 0 < rss["before"] <= rss["peak"]
