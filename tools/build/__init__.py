"""Bundle builders: the face bundles from their pinned registry packages, the gesture bundles from training data."""
