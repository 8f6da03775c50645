"""What an instance remembers between requests: the embedding cache."""
