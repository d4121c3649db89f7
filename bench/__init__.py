"""Benchmarks, run on demand (`uv run python -m bench.<name>`), never part of the test run."""
