"""Video clips -> sampled RGB frames with PyAV (FFmpeg), priced from the container first."""
