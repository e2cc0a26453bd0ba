"""Errors raised while finding, converting or loading models (each carries a one-line fix)."""


class ModelError(RuntimeError):
    """Base class: the message is one line a user can act on."""


class ModelSourceError(ModelError):
    """The mediapipe wheel or one of its tflite files is missing or unreadable."""


class ConversionError(ModelError):
    """The converter met an op or layout it does not lower."""
