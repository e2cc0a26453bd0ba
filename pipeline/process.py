"""`meshcam process`: track faces in a video, image or image folder with no window (a client of the API)."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from pipeline.config import PipelineConfig
from pipeline.drawing import OverlayStyle
from pipeline.errors import InputError, OutputError
from pipeline.face_tracker import FaceTracker
from pipeline.file_sinks import IMAGE_OUTPUTS
from pipeline.landmarks_io import LANDMARK_FORMATS
from pipeline.loops import run_offline
from pipeline.output_paths import check_output_path
from pipeline.recording import VIDEO_CONTAINERS
from pipeline.sinks import open_sink
from pipeline.sources import open_source

PROGRESS_REDRAW_S = 0.1  # terminal progress bar refresh


class Progress:
    """A one-line progress bar on stderr (a line every 10 % when stderr is not a terminal)."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.tty = sys.stderr.isatty()
        self.t0 = time.perf_counter()
        self._last_draw = 0.0
        self._last_decile = -1

    def __call__(self, done: int, total: int | None, faces: int) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        fps = done / max(now - self.t0, 1e-9)
        if self.tty:
            if now - self._last_draw < PROGRESS_REDRAW_S and done != total:
                return
            self._last_draw = now
            if total:
                filled = int(30 * done / total)
                eta = (total - done) / fps if fps > 0 else 0.0
                bar = f"[{'#' * filled}{'.' * (30 - filled)}] {done}/{total}  ETA {eta:4.0f} s"
            else:
                bar = f"{done} frames"
            sys.stderr.write(f"\r{bar}  {fps:5.1f} fps  faces {faces} ")
            sys.stderr.flush()
        elif total:
            decile = 10 * done // total
            if decile != self._last_decile:
                self._last_decile = decile
                print(f"meshcam: {done}/{total} frames ({fps:.1f} fps)", file=sys.stderr)

    def finish(self) -> None:
        if self.enabled and self.tty:
            sys.stderr.write("\n")


def add_process_arguments(proc: argparse.ArgumentParser) -> None:
    proc.add_argument("input", help="video file, image file, or folder of images")
    proc.add_argument("--output", "-o", metavar="FILE",
                      help=f"annotated output: video ({', '.join(sorted(VIDEO_CONTAINERS))}) or, for a single "
                           f"image input, an image ({', '.join(sorted(IMAGE_OUTPUTS))})")
    proc.add_argument("--landmarks", metavar="FILE",
                      help=f"landmarks (and signals) file: {', '.join(sorted(LANDMARK_FORMATS))} (contract in README)")
    proc.add_argument("--sequence", action="store_true",
                      help="the input folder holds consecutive video frames (tracked from one to the next); "
                           "by default a folder's images are unrelated photos, each processed on its own")
    proc.add_argument("--fps", type=float, default=30.0, help="timestamps for image folders (default %(default)s)")
    proc.add_argument("--overwrite", action="store_true", help="replace existing output files")
    proc.add_argument("--max-frames", type=int, default=None, metavar="N", help="stop after this many frames")
    proc.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    """Live outputs to other apps and the lipstick effect (the app and `process` both take them)."""
    g = parser.add_argument_group("outputs to other apps")
    sup = argparse.SUPPRESS  # given before or after the subcommand alike (see pipeline.config_cli)
    g.add_argument("--osc", metavar="HOST:PORT", default=sup,
                   help="send VMC protocol over OSC (VTuber apps; default port 39539)")
    g.add_argument("--ws", metavar="HOST:PORT", default=sup,
                   help="serve a WebSocket stream of landmarks and signals (binds 127.0.0.1 unless you name "
                        "another interface; then a token is required)")
    g.add_argument("--ws-token", metavar="TOKEN", default=sup,
                   help="token WebSocket clients must give as ?token= (non-loopback binds)")
    g.add_argument("--vcam", nargs="?", const="", metavar="NAME", default=sup,
                   help="send the picture to a virtual camera")
    g.add_argument("--vcam-clean", action="store_true", default=sup,
                   help="virtual camera: effects only, no landmarks drawn")
    g.add_argument("--lipstick", metavar="COLOR[:OPACITY]", default=sup,
                   help="AR lipstick, e.g. red, '#c8102e:0.6'")


def output_sinks(args: argparse.Namespace) -> list:
    """Sinks for --osc / --ws / --vcam (each raises OutputError with one line for a bad address)."""
    sinks = []
    if getattr(args, "osc", None):
        sinks.append(open_sink(f"osc://{args.osc}"))
    if getattr(args, "ws", None):
        options = {"token": args.ws_token} if getattr(args, "ws_token", None) else {}
        sinks.append(open_sink(f"ws://{args.ws}", **options))
    if getattr(args, "vcam", None) is not None:
        spec = f"vcam:{args.vcam}" if args.vcam else "vcam"
        sinks.append(open_sink(spec, clean=getattr(args, "vcam_clean", False), **_lipstick_option(args)))
    return sinks


def _lipstick_option(args) -> dict:
    if not getattr(args, "lipstick", None):
        return {}
    from pipeline.lipstick import LipstickStyle
    return {"lipstick": LipstickStyle.parse(args.lipstick)}


def overlay_style(args: argparse.Namespace) -> OverlayStyle:
    return OverlayStyle(**_lipstick_option(args))


def process_cli(args: argparse.Namespace, config: PipelineConfig, extra_sinks=()) -> int:
    if args.max_frames is not None and args.max_frames < 1:
        raise InputError("--max-frames must be at least 1")
    source = open_source(args.input, fps=args.fps, sequence=args.sequence)  # input errors first
    with source:
        live = any(hasattr(args, k) for k in ("osc", "ws", "vcam"))
        if not (args.output or args.landmarks or extra_sinks or live):
            raise OutputError("nothing to write: give --output FILE (annotated video or image) and/or "
                              "--landmarks FILE (.npz/.csv/.jsonl), or a live output (--osc, --ws, --vcam)")
        # Validate every output before any work, so a bad path costs nothing and leaves nothing behind.
        paths = [Path(p) for p in (args.output, args.landmarks) if p]
        if len(paths) == 2 and paths[0].resolve() == paths[1].resolve():
            raise OutputError("--output and --landmarks name the same file")
        if Path(args.input).exists() and any(p.resolve() == Path(args.input).resolve() for p in paths):
            raise OutputError("an output would overwrite the input")
        if args.output and Path(args.output).suffix.lower() in IMAGE_OUTPUTS and source.frame_count != 1:
            raise OutputError(f"{Path(args.output).name}: an image output needs a single image input; "
                              "use .mp4 or .mkv (photos of other sizes are letterboxed)")
        if args.landmarks:
            check_output_path(Path(args.landmarks), args.overwrite, LANDMARK_FORMATS)
        if args.output:
            check_output_path(Path(args.output), args.overwrite, {**VIDEO_CONTAINERS, **dict.fromkeys(IMAGE_OUTPUTS)})
        sinks = [open_sink(p, overwrite=args.overwrite) for p in paths]
        extra_sinks = [*extra_sinks, *output_sinks(args)]
        print(f"meshcam: input: {source.description}", file=sys.stderr)
        tracker = FaceTracker.create(config)
        provider = tracker.provider.name.upper()
        progress = Progress(not args.quiet)
        try:
            summary = run_offline(source, tracker, [*sinks, *extra_sinks], max_frames=args.max_frames,
                                  progress=progress, style=overlay_style(args))
        finally:
            progress.finish()
    skipped = getattr(source, "skipped", [])
    print(f"meshcam: {summary.frames} frames, {summary.frames_with_face} with a face, {summary.fps:.1f} fps on "
          f"{provider}; median ms: " + ", ".join(f"{k} {v:.2f}" for k, v in summary.stage_ms.items()),
          file=sys.stderr)
    for sink in sinks:
        n = sink.frames
        if n:
            print(f"meshcam: wrote {sink.path} ({n} frame{'s' if n != 1 else ''})", file=sys.stderr)
    if skipped:
        print(f"meshcam: skipped {len(skipped)} unreadable file(s): {', '.join(skipped[:5])}"
              f"{' …' if len(skipped) > 5 else ''}", file=sys.stderr)
    if summary.interrupted:
        print(f"meshcam: interrupted after {summary.frames} frames; outputs hold the frames processed so far",
              file=sys.stderr)
        return 130
    if summary.source_error:
        print(f"meshcam: warning: {summary.source_error}", file=sys.stderr)
        return 3  # partial result written, but the input was damaged
    return 0
