"""Measuring the served functions: benchmark, load, gs:// cold start, and the serving harness they share."""
