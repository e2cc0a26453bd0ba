"""User-facing pipeline errors: each message is one line saying what is wrong and how to fix it."""


class MeshcamError(RuntimeError):
    """Base class for errors shown to the user as one line."""


class InputError(MeshcamError):
    """A source (camera, video, image, folder) is missing, unreadable or unsupported."""


class OutputError(MeshcamError):
    """An output file cannot be written (exists, unwritable, disk full)."""


class ConfigError(MeshcamError, ValueError):
    """An option has a value outside its range or choices."""
