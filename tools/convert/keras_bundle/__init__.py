"""Keras model -> TFLite gesture bundle: loading, side files, conversion, checks, manifest.

Tools-only (TensorFlow); the runtime never imports this package.
"""
