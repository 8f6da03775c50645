"""Hands from pixels: MediaPipe palm detection and hand landmarks in numpy + TFLite."""
