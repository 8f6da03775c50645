"""Faces: detection (MediaPipe BlazeFace bundles), alignment (the ArcFace 112 px chip SFace
takes, or dlib's 150 px chip), embedding, verification and search."""
