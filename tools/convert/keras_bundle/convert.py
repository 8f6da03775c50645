"""Keras model (fixed batch 1) -> TFLite flatbuffer with builtin ops only, and its op list.

Quantization options and what they cost:
- "none": float32, the exact model; the default.
- "dynamic": int8 weights, float activations (~4x smaller). Per-channel quantization of
  dense layers is switched off: from TF ~2.18 it writes FULLY_CONNECTED version 12, which
  tflite-runtime 2.14 cannot load.
- "float16": float16 weights (~2x smaller). On TF 2.15 converting LSTMs this way can run
  the converter out of memory.
"""

from __future__ import annotations

import tensorflow as tf

QUANTIZATIONS = ("none", "dynamic", "float16")


def to_tflite(model: tf.keras.Model, quantize: str = "none") -> bytes:
    """Convert with TFLITE_BUILTINS only: a model needing Flex (SELECT_TF_OPS) fails here,
    not later in a runtime that lacks them."""
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantize == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter._experimental_disable_per_channel_quantization_for_dense_layers = True
    elif quantize == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantize != "none":
        raise SystemExit(f"--quantize must be one of {', '.join(QUANTIZATIONS)}")
    return converter.convert()


def op_versions(tflite: bytes) -> list[dict]:
    """[{"op": "UNIDIRECTIONAL_SEQUENCE_LSTM", "version": 1}, ...] from the flatbuffer's
    operator codes (what a runtime must support to load the model)."""
    from tensorflow.lite.python import schema_py_generated as schema

    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    model = schema.Model.GetRootAsModel(tflite, 0)
    ops = []
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        # builtin codes >= 127 live in BuiltinCode; older ones in DeprecatedBuiltinCode.
        number = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if number == schema.BuiltinOperator.CUSTOM:
            ops.append({"op": f"CUSTOM:{code.CustomCode().decode()}", "version": code.Version()})
        else:
            ops.append({"op": names.get(number, str(number)), "version": code.Version()})
    return sorted(ops, key=lambda o: o["op"])
