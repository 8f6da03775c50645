"""Publishing a validated bundle to gs://."""
