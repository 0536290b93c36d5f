"""Benchmarks that reuse the real updaters; run as scripts (``python bench/continual.py``)."""
