"""One TFLite model wrapper over either runtime: LiteRT (`ai_edge_litert`) or `tflite_runtime`.

A model is built from a file path or from bytes (a bundle fetched from object storage),
and every invocation holds a lock: functions-framework serves requests on several threads
and an interpreter must not be entered from two at once.
"""

from __future__ import annotations

import ctypes
import functools
import importlib
import os
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from shared.runtime.options import RUNTIMES


@functools.cache
def _interpreter_class(wanted: str = "") -> tuple[str, Any]:
    """The Interpreter class of `wanted`, or of the first runtime that imports ("")."""
    candidates = (wanted,) if wanted else RUNTIMES
    errors = []
    for name in candidates:
        if name not in RUNTIMES:
            raise ValueError(f"TFLITE_RUNTIME must be one of {', '.join(RUNTIMES)}, got {name!r}")
        try:
            module = importlib.import_module(f"{name}.interpreter")
        except ImportError as exc:
            errors.append(f"{name}: {exc}")
            continue
        return name, module.Interpreter
    raise ImportError("no TFLite runtime could be imported (" + "; ".join(errors) + ")")


@functools.cache
def runtime_info(wanted: str = "") -> dict:
    """Which runtime serves the models ("" = the first that imports), and its version."""
    name, _ = _interpreter_class(wanted)
    module = importlib.import_module(name)
    version = getattr(module, "__version__", None)
    if version is None:
        from importlib import metadata

        version = metadata.version(name.replace("_", "-"))
    return {"runtime": name, "version": version}


MADV_DONTNEED = 4  # Linux's madvise(2) advice number
# Smaller model files keep their pages: finding their mapping (a walk of /proc/self/maps,
# 0.3-0.5 ms) costs a cold start more than their few resident KiB are worth (the gesture
# classifiers: 32 and 78 KiB; BlazeFace short-range: 224 KiB).
RELEASE_MIN_BYTES = 256 * 1024


def release_file_pages(path: str) -> int:
    """Drop this process's resident pages of a file the runtime has mapped read-only, once
    the interpreter is built: XNNPACK has packed its own copy of the weights by then, so the
    file's pages are never read again (SFace: 12.9 MB of RSS). Nothing is lost: a page read
    again comes back from the page cache, as any file page does. Linux only; returns the
    bytes of the mappings advised (0 elsewhere, or when the runtime read the file instead)."""
    try:
        real = os.path.realpath(path)
        with open("/proc/self/maps") as maps:
            spans = [line.split()[0] for line in maps if line.rstrip("\n").endswith(" " + real) and line.split()[1][1] == "-"]
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return 0
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    advised = 0
    for span in spans:  # read-only mappings only: a private writable one could hold changed pages
        low, high = (int(x, 16) for x in span.split("-"))
        if libc.madvise(low, high - low, MADV_DONTNEED) == 0:
            advised += high - low
    return advised


@dataclass(frozen=True)
class TensorSpec:
    """Attributes: name, shape (tuple, batch first), dtype (numpy dtype name)."""

    name: str
    shape: tuple[int, ...]
    dtype: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}


class Model:
    """A TFLite model ready to run: `run(*inputs) -> [outputs]`, thread-safe.

    Variables (the state of fused LSTM ops) are reset before every invocation, so the
    same input always gives the same output whatever ran before.
    """

    def __init__(self, *, model_path: str | None = None, model_content: bytes | None = None, num_threads: int = 1, runtime: str = ""):
        if (model_path is None) == (model_content is None):
            raise ValueError("give exactly one of model_path or model_content")
        self.runtime, interpreter_class = _interpreter_class(runtime)
        kwargs: dict[str, Any] = {"num_threads": num_threads}
        if model_path is not None:
            kwargs["model_path"] = str(model_path)
        else:
            kwargs["model_content"] = bytes(model_content or b"")
        self._interpreter = interpreter_class(**kwargs)
        self._interpreter.allocate_tensors()
        if model_path is not None and os.path.getsize(model_path) >= RELEASE_MIN_BYTES:
            release_file_pages(str(model_path))
        self._inputs = self._interpreter.get_input_details()
        self._outputs = self._interpreter.get_output_details()
        self._lock = threading.Lock()

    @classmethod
    def from_path(cls, path: str, num_threads: int = 1, runtime: str = "") -> Model:
        return cls(model_path=path, num_threads=num_threads, runtime=runtime)

    @classmethod
    def from_bytes(cls, content: bytes, num_threads: int = 1, runtime: str = "") -> Model:
        return cls(model_content=content, num_threads=num_threads, runtime=runtime)

    @property
    def inputs(self) -> list[TensorSpec]:
        return [TensorSpec(d["name"], tuple(int(x) for x in d["shape"]), np.dtype(d["dtype"]).name) for d in self._inputs]

    @property
    def outputs(self) -> list[TensorSpec]:
        return [TensorSpec(d["name"], tuple(int(x) for x in d["shape"]), np.dtype(d["dtype"]).name) for d in self._outputs]

    def run(self, *arrays: np.ndarray) -> list[np.ndarray]:
        """Run one invocation; inputs in the model's input order, each of its exact shape."""
        if len(arrays) != len(self._inputs):
            raise ValueError(f"model takes {len(self._inputs)} inputs, got {len(arrays)}")
        prepared = []
        for detail, array in zip(self._inputs, arrays, strict=True):
            array = np.asarray(array, dtype=detail["dtype"])
            if tuple(array.shape) != tuple(detail["shape"]):
                raise ValueError(f"input {detail['name']!r} wants shape {tuple(detail['shape'])}, got {array.shape}")
            prepared.append(np.ascontiguousarray(array))
        with self._lock:
            self._interpreter.reset_all_variables()
            for detail, array in zip(self._inputs, prepared, strict=True):
                self._interpreter.set_tensor(detail["index"], array)
            self._interpreter.invoke()
            # get_tensor copies, so nothing returned aliases the interpreter's buffers.
            return [self._interpreter.get_tensor(d["index"]) for d in self._outputs]
