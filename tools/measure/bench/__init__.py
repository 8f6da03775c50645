"""Benchmark harness pieces: serving processes (server), HTTP load (client), real inputs
(inputs), what runs where (cases), in-process model timing (modeltime), tables (report)."""
