"""Calibration of the face-verification threshold on labelled photos."""
