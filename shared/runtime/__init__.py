"""Where models come from and how they run: bundles, the TFLite wrapper, object storage, lazy loading."""
