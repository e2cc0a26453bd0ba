"""meshcam command line: `python main.py` opens the app; subcommands convert, process and bench."""
from __future__ import annotations

import argparse
import logging
import os
import sys

# Keep third-party native logs (glog/absl from mediapipe, onnxruntime) off the user's terminal.
os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("OPENCV_LOG_LEVEL", "OFF")  # our own one-line errors say what failed
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # FFmpeg quiet (AV_LOG_QUIET)


def _add_pipeline_args(p: argparse.ArgumentParser) -> None:
    from pipeline.config import PipelineConfig
    d = PipelineConfig()
    p.add_argument("--max-faces", type=int, default=d.max_faces, help="faces to track (default %(default)s)")
    p.add_argument("--no-lips", action="store_true", help="skip the lips submodel")
    p.add_argument("--no-eyes", action="store_true", help="skip the eye submodels")
    p.add_argument("--no-iris", action="store_true", help="skip the iris submodels (landmarks 468-477 become NaN)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--smooth", dest="smooth", action="store_true", default=None, help="One Euro smoothing (default on)")
    g.add_argument("--no-smooth", dest="smooth", action="store_false", help="raw landmarks")
    p.add_argument("--provider", choices=["auto", "cpu", "cuda"], default=d.provider,
                   help="inference provider (default %(default)s: CUDA when usable, else CPU)")
    p.add_argument("--threads", type=int, default=None, help="onnxruntime threads per session")


def config_from_args(args: argparse.Namespace):
    from pipeline.config import PipelineConfig
    changes = dict(max_faces=args.max_faces, lips=not args.no_lips, eyes=not args.no_eyes, iris=not args.no_iris,
                   provider=args.provider, threads=args.threads)
    if args.smooth is not None:
        changes["smooth"] = args.smooth
    return PipelineConfig(**changes)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="meshcam", description="Real-time 478-point face tracking (Attention Mesh).")
    parser.add_argument("--debug", action="store_true", help="verbose logs and full tracebacks")
    sub = parser.add_subparsers(dest="command")

    conv = sub.add_parser("convert", help="convert MediaPipe's tflite models to ONNX (done automatically when needed)")
    conv.add_argument("--force", action="store_true", help="reconvert even when the cache is current")

    proc = sub.add_parser("process", help="track faces in a video, image or image folder without a window")
    proc.add_argument("input", help="video file, image file, or directory of images")
    proc.add_argument("--output", "-o", help="annotated video to write (.mp4 / .mkv)")
    proc.add_argument("--landmarks", help="landmarks file to write (.npz, .csv or .jsonl)")
    proc.add_argument("--fps", type=float, default=30.0, help="timestamps for image folders (default %(default)s)")
    proc.add_argument("--overwrite", action="store_true", help="replace existing output files")
    proc.add_argument("--max-frames", type=int, default=None, help="stop after this many frames")
    proc.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    _add_pipeline_args(proc)

    bench = sub.add_parser("bench", help="benchmark against MediaPipe and write a report")
    bench.add_argument("--quick", action="store_true", help="a short run (under 5 minutes on 2 cores)")
    bench.add_argument("--out", default="bench-out", help="report folder (default %(default)s)")

    app = parser.add_argument_group("app (no subcommand)")
    app.add_argument("--source", help="camera index or video/image path (default: camera 0)")
    app.add_argument("--screenshot", help="save a picture of the window after --quit-after-frames")
    app.add_argument("--quit-after-frames", type=int, help="quit after this many processed frames")
    _add_pipeline_args(parser)
    return parser


def run(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s" if args.debug else "meshcam: %(message)s")
    if args.command == "convert":
        from models.registry import ensure_models
        models = ensure_models(force=args.force)
        print(f"models ready in {models.directory} ({len(models.manifest['files'])} files, "
              f"converter v{models.manifest['converter_version']})")
        return 0
    if args.command == "process":
        from pipeline.process import process_cli
        return process_cli(args, config_from_args(args))
    if args.command == "bench":
        from benchmarks.bench import bench_cli
        return bench_cli(args)
    from app.main_window import run_app
    return run_app(args, config_from_args(args))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    from models.errors import ModelError
    from pipeline.errors import MeshcamError
    try:
        return run(argv)
    except (ModelError, MeshcamError, ValueError) as e:
        if "--debug" in argv:
            raise
        print(f"meshcam: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("meshcam: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
