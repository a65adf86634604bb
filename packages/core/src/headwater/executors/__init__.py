"""The executor contract and the inline runner."""
