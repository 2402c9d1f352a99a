"""Benchmarks: each compares a baseline with a candidate measured in the same run.

Run them all with ``python -m bench`` (``make bench``), or ``python -m bench --quick`` for a
smoke run. Timings are medians of a few repetitions on whatever machine runs them: read the
ratios, not the absolute figures. Nothing here is a test and nothing asserts a time.
"""
