"""Batch inputs: which videos a run names (files, folders, globs, manifests, pyarrow.fs URLs), each video's
output key (its path relative to its input root) and the run's output options. Also the cheap identity of
an input (size, mtime, content hash of its ends) that the run index compares between runs."""
from __future__ import annotations

import csv
import glob
import hashlib
import logging
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from pipeline.config import PipelineConfig
from pipeline.errors import InputError, OutputError
from pipeline.sources import VIDEO_EXTS

log = logging.getLogger(__name__)

LANDMARK_KINDS = ("npz", "csv", "jsonl")
MANIFEST_SUFFIXES = {".txt", ".csv"}
MANIFEST_COLUMN = "path"  # the .csv manifest column holding the video paths
HASH_SPAN = 1 << 20  # content hash: first and last MiB (and the size): cheap on huge files, catches re-encodes


@dataclass(frozen=True)
class Job:
    """One input video and where its outputs go."""
    input: str  # absolute path of the video
    rel: str  # output path relative to the output folder, posix, without suffix ("sub/clip")
    size: int  # bytes when discovered; -1 when the file is missing (manifest entry)
    mtime_ns: int


@dataclass(frozen=True)
class BatchOptions:
    """What every job of a run writes (one config for the whole run)."""
    out_dir: Path
    config: PipelineConfig = field(default_factory=lambda: PipelineConfig(threads=1))
    formats: tuple[str, ...] = ("npz",)  # landmark files, a subset of LANDMARK_KINDS
    annotated: bool = False  # also DIR/<rel>.annotated.mp4
    split_s: float | None = None  # cut longer videos into chunks of about this many seconds (pipeline.batch_chunks)

    def outputs(self, rel: str) -> list[tuple[str, Path]]:
        """(staging name, final path) of every output of the job ``rel``."""
        base = self.out_dir.joinpath(*rel.split("/"))
        names = [(f"out.{kind}", base.with_name(f"{base.name}.{kind}")) for kind in self.formats]
        if self.annotated:
            names.append(("annotated.mp4", base.with_name(f"{base.name}.annotated.mp4")))
        return names


def discover(inputs: Sequence[str], out_dir: Path | None = None) -> list[Job]:
    """The videos named by ``inputs``: files, folders (recursive, video suffixes), glob patterns, manifests
    (.txt: one path a line, # comments; .csv: a ``path`` column; relative entries are relative to the
    manifest's folder) and URLs that pyarrow.fs opens (``s3://bucket/videos/``, ``gs://…``, ``hdfs://…``,
    ``file:///…``: a folder-like prefix is listed recursively). Each video's output path is its path relative
    to its input root (the folder or prefix given, the pattern's fixed prefix, the manifest's common folder, a
    file's own folder) with the suffix dropped; two videos that would share an output keep their suffixes.
    Anything under ``out_dir`` is left out.

    Raises:
        InputError: an input that is neither a file, a folder, a pattern nor a reachable URL; a manifest
            without paths; two inputs that would write the same output.
    """
    out_dir = Path(out_dir).resolve() if out_dir is not None else None
    found: dict[str, tuple[str, int, int]] = {}  # input -> (relative path with suffix, size, mtime_ns)
    for spec in inputs:
        for source, rel, size, mtime in _expand(spec, out_dir):
            found.setdefault(source, (rel, size, mtime))  # first mention wins
    stems: dict[str, int] = {}
    for rel, _, _ in found.values():
        stem = PurePosixPath(rel).with_suffix("").as_posix()
        stems[stem] = stems.get(stem, 0) + 1
    seen: dict[str, Job] = {}
    for source, (rel, size, mtime) in found.items():
        stem = PurePosixPath(rel).with_suffix("").as_posix()
        job = Job(source, stem if stems[stem] == 1 else rel, size, mtime)  # clip.mp4 + clip.mkv: both keep it
        if job.rel in seen:
            raise InputError(f"{seen[job.rel].input} and {job.input} would both write {job.rel}.*; "
                             "give their common folder instead, or process them in separate runs")
        seen[job.rel] = job
    return sorted(seen.values(), key=lambda j: j.rel)


def is_url(spec: str) -> bool:
    """``scheme://…`` other than a Windows drive letter: opened through pyarrow.fs."""
    head, sep, _ = spec.partition("://")
    return bool(sep) and len(head) > 1 and head.replace("+", "").isalnum()


def _expand(spec: str, out_dir: Path | None) -> Iterable[tuple[str, str, int, int]]:
    """(input, path relative to its root, size, mtime_ns) of every video ``spec`` names."""
    if is_url(spec):
        yield from _expand_url(spec, out_dir)
        return
    path = Path(spec).expanduser()
    if path.is_dir():
        root = path.resolve()
        yield from (_local(p, root) for p in _walk(root, out_dir))
    elif path.is_file():
        if path.suffix.lower() in MANIFEST_SUFFIXES:
            yield from _manifest(path.resolve(), out_dir)
        else:  # named explicitly: a video whatever its suffix (an unreadable one fails in the index)
            resolved = path.resolve()
            yield _local(resolved, resolved.parent)
    elif glob.has_magic(spec):
        matches = sorted(glob.glob(os.path.expanduser(spec), recursive=True))
        if not matches:
            log.warning("%s: the pattern matched nothing", spec)
        root = _pattern_root(spec)
        for m in map(Path, matches):
            if m.is_dir():
                yield from (_local(p, root) for p in _walk(m.resolve(), out_dir))
            elif m.suffix.lower() in VIDEO_EXTS and not _hidden(m) and not _inside(m.resolve(), out_dir):
                yield _local(m.resolve(), root)
    else:
        raise InputError(f"{spec}: no such file or folder")


def _local(path: Path, root: Path) -> tuple[str, str, int, int]:
    try:
        st = path.stat()
        size, mtime = st.st_size, st.st_mtime_ns
    except OSError:  # a manifest entry that is missing: failed in the index, the rest goes on
        size, mtime = -1, 0
    return str(path), path.relative_to(root).as_posix(), size, mtime


def _expand_url(spec: str, out_dir: Path | None = None) -> Iterable[tuple[str, str, int, int]]:
    import pyarrow.fs as pafs
    try:
        fs, path = pafs.FileSystem.from_uri(spec)
        info = fs.get_file_info(path)
    except Exception as e:  # noqa: BLE001 - unknown scheme, no credentials, unreachable: one line
        raise InputError(f"{spec}: cannot open ({one_line(str(e))})") from None
    if info.type == pafs.FileType.File:
        yield spec, PurePosixPath(path).name, info.size, info.mtime_ns or 0
    elif info.type == pafs.FileType.Directory:
        base = spec.rstrip("/")
        prefix = path.rstrip("/") + "/"
        for f in sorted(fs.get_file_info(pafs.FileSelector(path, recursive=True)), key=lambda f: f.path):
            rel = f.path[len(prefix):] if f.path.startswith(prefix) else PurePosixPath(f.path).name
            if isinstance(fs, pafs.LocalFileSystem) and _inside(Path(f.path), out_dir):
                continue  # file:// URLs: our own outputs are not inputs either
            if f.is_file and PurePosixPath(rel).suffix.lower() in VIDEO_EXTS and \
                    not any(part.startswith(".") for part in PurePosixPath(rel).parts):
                yield f"{base}/{rel}", rel, f.size, f.mtime_ns or 0
    else:
        raise InputError(f"{spec}: no such file or folder")


def _walk(root: Path, out_dir: Path | None) -> Iterable[Path]:
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not _inside(here / d, out_dir))
        for name in sorted(files):
            if not name.startswith(".") and Path(name).suffix.lower() in VIDEO_EXTS:
                yield here / name


def _manifest(path: Path, out_dir: Path | None) -> Iterable[tuple[Path, Path]]:
    entries: list[str] = []
    try:
        if path.suffix.lower() == ".csv":
            with open(path, newline="", encoding="utf-8-sig") as f:
                reader = csv.DictReader(f)
                column = next((c for c in reader.fieldnames or () if c.strip().lower() == MANIFEST_COLUMN), None)
                if column is None:
                    raise InputError(f"{path.name}: a .csv manifest needs a '{MANIFEST_COLUMN}' column "
                                     f"(found: {', '.join(reader.fieldnames or ()) or 'no header'})")
                entries = [row[column].strip() for row in reader if (row.get(column) or "").strip()]
        else:
            with open(path, encoding="utf-8-sig") as f:
                entries = [s for s in (line.strip() for line in f) if s and not s.startswith("#")]
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path.name}: cannot read the manifest ({e})") from None
    if not entries:
        raise InputError(f"{path.name}: the manifest lists no paths")
    videos: list[Path] = []
    urls: list[tuple[str, str, int, int]] = []
    for entry in entries:
        if is_url(entry):
            urls.extend(_expand_url(entry, out_dir))
            continue
        p = Path(entry).expanduser()
        p = p if p.is_absolute() else path.parent / p
        if p.is_dir():
            videos.extend(_walk(p.resolve(), out_dir))
        else:  # missing entries too: they are reported as failed in the index, the rest goes on
            videos.append(p.resolve() if p.exists() else Path(os.path.abspath(p)))
    if videos:
        root = Path(os.path.commonpath([str(v.parent) for v in videos]))
        yield from (_local(v, root) for v in videos)
    yield from urls


def _pattern_root(pattern: str) -> Path:
    parts = Path(os.path.expanduser(pattern)).parts
    fixed = []
    for part in parts:
        if glob.has_magic(part):
            break
        fixed.append(part)
    return Path(*fixed).resolve() if fixed else Path.cwd()


def _hidden(path: Path) -> bool:
    return path.name.startswith(".")


def _inside(path: Path, folder: Path | None) -> bool:
    return folder is not None and (path == folder or folder in path.parents)


def content_hash(source: str | Path, size: int | None = None) -> str:
    """sha256 of the size, the first MiB and the last MiB: a changed video is noticed without reading it all.
    ``source``: a local path or a pyarrow.fs URL (two ranged reads)."""
    size = stat_input(str(source))[0] if size is None else size
    h = hashlib.sha256(str(size).encode())
    with _open_input(str(source)) as f:
        h.update(f.read(HASH_SPAN))
        if size > HASH_SPAN:
            f.seek(max(HASH_SPAN, size - HASH_SPAN))
            h.update(f.read(HASH_SPAN))
    return h.hexdigest()[:32]


def stat_input(source: str) -> tuple[int, int]:
    """(size, mtime_ns) of a local path or URL. Raises OSError (FileNotFoundError when missing)."""
    if not is_url(source):
        st = os.stat(source)
        return st.st_size, st.st_mtime_ns
    import pyarrow.fs as pafs
    fs, path = pafs.FileSystem.from_uri(source)
    info = fs.get_file_info(path)
    if info.type != pafs.FileType.File:
        raise FileNotFoundError(f"{source}: no such file")
    return info.size, info.mtime_ns or 0


def _open_input(source: str):
    if not is_url(source):
        return open(source, "rb")
    import pyarrow.fs as pafs
    fs, path = pafs.FileSystem.from_uri(source)
    return fs.open_input_file(path)


def input_name(source: str) -> str:
    return PurePosixPath(source.split("://", 1)[-1]).name if is_url(source) else Path(source).name



def batch_options(out_dir: str | Path, config: PipelineConfig, formats: Iterable[str] = ("npz",),
                  annotated: bool = False, split_minutes: float | None = None) -> BatchOptions:
    """Validated options; one onnxruntime thread per worker unless the config names a count.

    Raises:
        OutputError: no or unknown formats, a URL as the output folder, --split-minutes with --annotated.
        InputError: --split-minutes not a positive number.
    """
    formats = tuple(dict.fromkeys(f.strip().lower().lstrip(".") for f in formats if f.strip()))
    bad = [f for f in formats if f not in LANDMARK_KINDS]
    if bad or not (formats or annotated):
        raise OutputError(f"--format takes {', '.join(LANDMARK_KINDS)} (comma-separated), not "
                          f"{', '.join(bad) or 'nothing'}")
    if is_url(str(out_dir)):
        raise OutputError(f"{out_dir}: --out must be a folder every worker can write (a local or shared file "
                          "system; outputs to object storage are not supported yet: sync the folder afterwards)")
    if split_minutes is not None:
        if not (split_minutes > 0 and math.isfinite(split_minutes)):
            raise InputError(f"--split-minutes must be a positive number of minutes, not {split_minutes:g}")
        if annotated:
            raise OutputError("--split-minutes writes landmark files only; run --annotated without it (annotated "
                              "chunks are not joined yet)")
    if config.threads is None:
        config = config.with_changes(threads=1)
    return BatchOptions(Path(out_dir).expanduser().resolve(), config, formats, annotated,
                        split_minutes * 60.0 if split_minutes is not None else None)



def one_line(text: str) -> str:
    return " ".join(str(text).split())[:500]

