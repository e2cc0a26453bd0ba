"""Benchmarks against MediaPipe (speed, submodel cost, jitter, accuracy). Not part of the test suite."""
