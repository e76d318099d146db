"""Vendored ptychographic reconstruction package: shared core and TensorFlow backend."""
