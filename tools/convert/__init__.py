"""The Keras converter: a user's Keras gesture model (+ labels, normaliser) -> a checked bundle."""
