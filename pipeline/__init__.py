"""Capture, detection, mesh, tracking, smoothing, drawing and recording. Never imports Qt."""
