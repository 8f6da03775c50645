"""Serving both functions locally (make serve)."""
