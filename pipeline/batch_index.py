"""The run index: one row per input video (INDEX_COLUMNS), appended to an fsync'd journal as each video
finishes and folded into DIR/index.parquet + DIR/index.csv; the config hash; and the plan (what a run does
with each video: skip it, or why it is redone)."""
from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path

from pipeline.batch_inputs import BatchOptions, Job, content_hash, one_line
from pipeline.errors import OutputError

JOURNAL = ".index-journal.jsonl"
INDEX_FLUSH_S = 10.0  # fold the journal into index.parquet/csv at most this often while running
DONE_STATES = ("done", "skipped")  # skipped = done by an earlier run, unchanged since
INDEX_COLUMNS = (  # (name, pyarrow type name): the run index schema, one row per input video
    ("input", "string"), ("output", "string"), ("size", "int64"), ("mtime_ns", "int64"),
    ("content_hash", "string"), ("config_hash", "string"), ("status", "string"), ("frames", "int64"),
    ("frames_with_face", "int64"), ("seconds", "float64"), ("fps", "float64"), ("error", "string"),
    ("worker", "string"), ("finished_at", "string"))



def config_hash(options: BatchOptions, model_manifest: dict | None = None) -> str:
    """What decides the outputs' content: tracking options (threads aside), formats, models, version."""
    from pipeline import __version__
    cfg = {f.name: getattr(options.config, f.name) for f in fields(options.config) if f.name != "threads"}
    cfg["submodels"] = cfg["submodels"].value
    models = sorted((name, f.get("sha256", "")) for name, f in (model_manifest or {}).get("files", {}).items())
    what = {"config": cfg, "formats": list(options.formats), "annotated": options.annotated, "models": models,
            "version": __version__}
    if options.split_s is not None:  # only when set: indexes of runs without it stay valid
        what["split_s"] = options.split_s
    text = json.dumps(what, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# ---- the run index --------------------------------------------------------------------------------------
class RunIndex:
    """Per input video: what the last run that touched it did (the columns of INDEX_COLUMNS).

    ``record`` appends a row to the journal (flushed and fsync'd before returning, so a finished video is
    never forgotten); ``save`` folds everything into index.parquet and index.csv (each written to a temporary
    name and renamed) and then empties the journal. Loading replays the journal over the parquet file.
    """

    def __init__(self, out_dir: Path):
        self.out_dir = Path(out_dir)
        self.rows: dict[str, dict] = {}
        self._journal = None
        self._last_save = time.monotonic()
        self._save_s = 0.0
        self._load()

    @property
    def parquet_path(self) -> Path:
        return self.out_dir / "index.parquet"

    @property
    def csv_path(self) -> Path:
        return self.out_dir / "index.csv"

    def _load(self) -> None:
        if self.parquet_path.exists():
            import pyarrow.parquet as pq
            try:
                table = pq.read_table(self.parquet_path)
            except Exception as e:  # noqa: BLE001 - any damage: say which file, never a traceback
                raise OutputError(f"{self.parquet_path}: unreadable run index ({e}); delete it to start over "
                                  "(finished outputs will then be redone)") from None
            for row in table.to_pylist():
                self.rows[row["input"]] = _normalise(row)
        journal = self.out_dir / JOURNAL
        if journal.exists():
            with open(journal, encoding="utf-8", errors="replace") as f:
                for line in f:
                    try:
                        row = json.loads(line)
                    except json.JSONDecodeError:  # the last line of a run killed mid-write
                        continue
                    if isinstance(row, dict) and "input" in row:
                        self.rows[row["input"]] = _normalise(row)

    def get(self, input_path: str) -> dict | None:
        return self.rows.get(input_path)

    def record(self, row: dict, durable: bool = True) -> None:
        """Keep ``row``; ``durable``: in the journal before returning (a row that a re-run would only
        recompute, like a skip, need not pay an fsync)."""
        row = _normalise(row)
        self.rows[row["input"]] = row
        if not durable:
            return
        if self._journal is None:
            self._journal = open(self.out_dir / JOURNAL, "a", encoding="utf-8")
        self._journal.write(json.dumps(row) + "\n")
        self._journal.flush()
        os.fsync(self._journal.fileno())
        if time.monotonic() - self._last_save > max(INDEX_FLUSH_S, 20 * self._save_s):
            self.save()  # at most ~5 % of the time on saving, however long the index grows

    def save(self) -> None:
        t0 = time.monotonic()
        import pyarrow as pa
        import pyarrow.csv as pacsv
        import pyarrow.parquet as pq
        rows = [self.rows[k] for k in sorted(self.rows)]
        schema = pa.schema([(name, getattr(pa, kind)()) for name, kind in INDEX_COLUMNS])
        table = pa.Table.from_pylist(rows, schema=schema)
        for path, write in ((self.parquet_path, lambda p: pq.write_table(table, p)),
                            (self.csv_path, lambda p: pacsv.write_csv(table, p))):
            tmp = path.with_name(f".{path.name}.tmp")
            try:
                write(str(tmp))
                os.replace(tmp, path)
            except OSError as e:
                tmp.unlink(missing_ok=True)
                raise OutputError(f"cannot write {path}: {e.strerror or e}") from e
        if self._journal is not None:
            self._journal.close()
            self._journal = None
        (self.out_dir / JOURNAL).unlink(missing_ok=True)
        self._last_save = time.monotonic()
        self._save_s = self._last_save - t0

    def close(self) -> None:
        self.save()


def _normalise(row: dict) -> dict:
    out = {}
    for name, kind in INDEX_COLUMNS:
        value = row.get(name)
        if value is None:
            value = 0 if kind == "int64" else 0.0 if kind == "float64" else ""
        out[name] = int(value) if kind == "int64" else float(value) if kind == "float64" else str(value)
    return out


# ---- planning ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Planned:
    job: Job
    action: str  # skip | new | changed | failed-before | config | missing-output | forced | missing-input
    previous: dict | None = None


def plan(jobs: Sequence[Job], index: RunIndex, options: BatchOptions, chash: str, force: bool = False
         ) -> list[Planned]:
    """What to do with each job: skip it when the index says it is done with this config, its outputs exist
    and the input is unchanged (same size and mtime, or same size and content hash after a touch)."""
    planned = []
    for job in jobs:
        prev = index.get(job.input)
        if job.size < 0:
            action = "missing-input"
        elif prev is None:
            action = "new"
        elif force:
            action = "forced"
        elif prev["status"] not in DONE_STATES:
            action = "failed-before"
        elif prev["config_hash"] != chash:
            action = "config"
        elif not all(final.exists() for _, final in options.outputs(job.rel)):
            action = "missing-output"
        elif prev["size"] == job.size and prev["mtime_ns"] == job.mtime_ns:
            action = "skip"
        elif prev["size"] == job.size and _hash_or_none(job) == prev["content_hash"]:
            action = "skip"  # touched, not changed
        else:
            action = "changed"
        planned.append(Planned(job, action, prev))
    return planned


def _hash_or_none(job: Job) -> str | None:
    try:
        return content_hash(job.input, job.size)
    except Exception:  # noqa: BLE001 - unreadable now: treated as changed, the worker says why
        return None



# ---- rows ----------------------------------------------------------------------------------------------
def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def base_row(job: Job, options: BatchOptions, chash: str) -> dict:
    return {"input": job.input, "output": job.rel, "size": max(job.size, 0), "mtime_ns": job.mtime_ns,
            "content_hash": "", "config_hash": chash, "status": "failed", "frames": 0, "frames_with_face": 0,
            "seconds": 0.0, "fps": 0.0, "error": "", "worker": "", "finished_at": ""}


def failed_row(job: Job, options: BatchOptions, chash: str, error: str) -> dict:
    row = base_row(job, options, chash)
    row.update(error=one_line(error), finished_at=now())
    return row



def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
