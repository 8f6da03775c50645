"""MediaPipe Holistic in numpy + TFLite: pose, hands re-cropped from the pose, face."""
