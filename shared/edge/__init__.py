"""The serving edge: the only code that knows a request (parsing, API key, health, memory
admission, logging, errors -> JSON). Pipelines below it see bytes, arrays and dicts."""

from shared.edge.handler import Edge

__all__ = ["Edge"]
