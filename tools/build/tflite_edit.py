"""Edits of a converted TFLite flatbuffer that the converter cannot be asked for.

`quantize_fully_connected(model)`: every FULLY_CONNECTED whose weights come from a
float16 -> float32 DEQUANTIZE gets int8 weights instead, symmetric with one scale for the
tensor, as the converter's own dynamic-range quantisation writes them (per-channel scales
in a hybrid FULLY_CONNECTED are read wrongly by tflite-runtime 2.14: cosine -0.3), and its
float16 bias becomes a float32 constant; the DEQUANTIZE ops go.
Activations stay float32: TFLite's hybrid kernel (and XNNPACK's dynamically quantised one)
quantises the input row on each call. The converter's Optimize.DEFAULT would quantise every
convolution too (SFace drifted to cosine 0.988 that way); this quantises the one layer that
holds most of the weights (SFace's 50176 x 128 embedding layer: 77% of them) and nothing else.

Needs TensorFlow (the tools venv): its flatbuffer_utils read and write the model.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np


def quantize_fully_connected(model: bytes) -> bytes:
    """The model with int8 weights in its float16-weighted FULLY_CONNECTED ops."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    with tempfile.TemporaryDirectory(prefix="tflite-edit-") as tmp:
        src, dst = Path(tmp) / "in.tflite", Path(tmp) / "out.tflite"
        src.write_bytes(model)
        m = flatbuffer_utils.read_model(str(src))
        codes = [oc.builtinCode for oc in m.operatorCodes]
        for graph in m.subgraphs:
            _Graph(m, graph, codes, schema).quantize_fully_connected()
        for oc in m.operatorCodes:
            if oc.builtinCode == schema.BuiltinOperator.FULLY_CONNECTED:
                oc.version = max(oc.version, 9)  # hybrid with asymmetric input quantisation, as the converter writes it
        flatbuffer_utils.write_model(m, str(dst))
        return dst.read_bytes()


class _Graph:
    """One subgraph being edited."""

    def __init__(self, model, graph, codes: list[int], schema) -> None:
        self.m, self.graph, self.codes, self.schema = model, graph, codes, schema
        self.producer = {int(o): i for i, op in enumerate(graph.operators) for o in op.outputs}
        self.drop: set[int] = set()

    def constant_from_half(self, tensor_index: int) -> np.ndarray | None:
        """The float16 constant behind the DEQUANTIZE that makes `tensor_index`, as float32
        (None when it is made otherwise); the tensor takes over its buffer, the op is dropped."""
        graph, schema = self.graph, self.schema
        at = self.producer.get(int(tensor_index))
        if at is None or self.codes[graph.operators[at].opcodeIndex] != schema.BuiltinOperator.DEQUANTIZE:
            return None
        half = graph.tensors[graph.operators[at].inputs[0]]
        if half.type != schema.TensorType.FLOAT16:
            return None
        values = np.frombuffer(bytes(self.m.buffers[half.buffer].data), np.float16).reshape(half.shape).astype(np.float32)
        graph.tensors[tensor_index].buffer, half.buffer = half.buffer, 0  # the slot will hold the new constant
        half.shape = np.array([1], np.int32)  # left unused and empty
        self.drop.add(at)
        return values

    def quantize_fully_connected(self) -> None:
        graph, schema = self.graph, self.schema
        for op in graph.operators:
            if self.codes[op.opcodeIndex] != schema.BuiltinOperator.FULLY_CONNECTED:
                continue
            weights_at = int(op.inputs[1])
            weights = self.constant_from_half(weights_at)
            if weights is None:
                continue
            scale = np.array([max(float(np.abs(weights).max()), 1e-30) / 127.0], np.float32)
            quantized = np.clip(np.round(weights / scale[0]), -127, 127).astype(np.int8)
            tensor = graph.tensors[weights_at]
            tensor.type = schema.TensorType.INT8
            self.m.buffers[tensor.buffer].data = np.frombuffer(quantized.tobytes(), np.uint8)
            params = schema.QuantizationParametersT()
            params.scale, params.zeroPoint, params.quantizedDimension = scale.tolist(), [0], 0
            tensor.quantization = params
            op.builtinOptions.asymmetricQuantizeInputs = True
            if len(op.inputs) > 2 and op.inputs[2] >= 0:
                bias = self.constant_from_half(int(op.inputs[2]))
                if bias is not None:
                    self.m.buffers[graph.tensors[op.inputs[2]].buffer].data = np.frombuffer(bias.tobytes(), np.uint8)
        graph.operators = [op for i, op in enumerate(graph.operators) if i not in self.drop]
