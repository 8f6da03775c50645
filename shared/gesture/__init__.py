"""Gesture classification from keypoint frames: bundle contracts, features, classifier, service."""
