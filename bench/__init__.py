"""Benchmarks, side by side with their baselines: `python -m bench` (see README)."""
