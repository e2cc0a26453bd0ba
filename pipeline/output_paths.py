"""Output paths: validated before any work starts, written atomically (a partial file never passes for a
whole one)."""
from __future__ import annotations

import os
import threading
from pathlib import Path

from pipeline.errors import OutputError

_UMASK_LOCK = threading.Lock()


def check_output_path(path: Path, overwrite: bool, allowed: dict | set) -> Path:
    """Validate an output path before any work starts.

    Raises:
        OutputError: exists (without overwrite), unsupported extension, folder missing or unwritable.
    """
    path = Path(path).expanduser()
    if path.suffix.lower() not in allowed:
        raise OutputError(f"{path.name}: unsupported output type (use {', '.join(sorted(allowed))})")
    if path.is_dir():
        raise OutputError(f"{path}: is a directory")
    if path.exists() and not overwrite:
        raise OutputError(f"{path} already exists; pass --overwrite to replace it")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"{parent}: output folder does not exist")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise OutputError(f"{path}: permission denied")
    return path


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a hidden temporary name beside ``path`` and rename it into place."""
    tmp = path.with_name(f".{path.name}.part")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"cannot write {path}: {e.strerror}") from e


def _umask() -> int:
    """The process umask, read without changing it where the OS tells it (Linux); elsewhere os.umask must set it
    to read it, which for an instant would give files other threads create mode 0666."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:
        umask = os.umask(0o077)  # the most restrictive interim value, not 0
        os.umask(umask)
    return umask


def default_file_mode(path: Path) -> None:
    """Give a finished file the permissions any new file gets under the user's umask (mkstemp makes 0600)."""
    umask = _umask()
    try:
        os.chmod(path, 0o666 & ~umask)
    except OSError:
        pass
