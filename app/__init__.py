"""The Qt GUI: a window over the pipeline. Never runs inference itself."""
