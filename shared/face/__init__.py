"""Faces: detection (MediaPipe BlazeFace bundles), alignment (dlib-style face chips)."""
