"""Benchmark of the running compose stack: throughput, latency, event lag, backlog drain, resources.

Not a test: `python -m bench.run` prints a table and writes `bench-results.json` at the repo root.
Every phase is bounded in count and time, and all traffic goes to 127.0.0.1 (the published ports).
"""
