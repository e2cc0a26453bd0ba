"""meshcam command line: `meshcam` (or `python main.py`) opens the app; subcommands process, batch, convert, bench."""
from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from pathlib import Path

# Keep third-party native logs (glog/absl from mediapipe, onnxruntime) off the user's terminal.
os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("OPENCV_LOG_LEVEL", "OFF")  # our own one-line errors say what failed
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # FFmpeg quiet (AV_LOG_QUIET)
sys.path.insert(0, str(Path(__file__).resolve().parent))  # run from anywhere, also as an installed script

KEYS = ("keyboard (app): Space pause/resume, . step one frame while paused, R record, S snapshot (picture + "
        "landmarks), M mirror, 1/2/3 lips/eyes/irises, F fullscreen, Ctrl+O open file, Ctrl+Q quit")
EXAMPLES = """examples:
  meshcam                                     open the app on camera 0
  meshcam --source clip.mp4 --max-faces 2     open the app on a video
  meshcam process clip.mp4 -o out.mp4 --landmarks out.npz
  meshcam process photos/ --landmarks faces.jsonl
  meshcam batch videos/ --out results/
"""


def build_parser() -> argparse.ArgumentParser:
    from pipeline import __version__
    from pipeline.batch import add_batch_arguments
    from pipeline.config_cli import add_config_arguments
    from pipeline.process import add_output_arguments, add_process_arguments

    parser = argparse.ArgumentParser(prog="meshcam", description="Real-time 478-point face tracking (Attention Mesh).",
                                     epilog=f"{KEYS}\n\n{EXAMPLES}",
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"meshcam {__version__}")
    parser.add_argument("--debug", action="store_true", help="verbose logs and full tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    conv = sub.add_parser("convert", help="convert MediaPipe's tflite models to ONNX (done automatically when needed)")
    conv.add_argument("--force", action="store_true", help="reconvert even when the cache is current")

    proc = sub.add_parser("process", help="track faces in a video, image or image folder without a window",
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    add_process_arguments(proc)
    add_output_arguments(proc)
    add_config_arguments(proc)

    batch = sub.add_parser("batch", help="process many videos on all cores or a Ray cluster, resumable")
    add_batch_arguments(batch)
    add_config_arguments(batch)

    bench = sub.add_parser("bench", help="benchmark against MediaPipe and write a report")
    bench.add_argument("--quick", action="store_true", help="a short run (under 5 minutes on 2 cores)")
    bench.add_argument("--out", default="bench-out", help="report folder (default %(default)s)")

    app = parser.add_argument_group("app (no subcommand)")
    app.add_argument("--source", help="camera index or video/image path (default: the last one used, else camera 0)")
    app.add_argument("--record-dir", help="folder for recordings and snapshots (default: your Videos folder)")
    app.add_argument("--screenshot", metavar="PNG", help="save a picture of the window after --quit-after-frames")
    app.add_argument("--quit-after-frames", type=int, metavar="N", help="quit after this many processed frames")
    add_output_arguments(parser)
    add_config_arguments(parser)
    return parser


def run(argv: list[str]) -> int:
    from pipeline.config_cli import config_from_args, given_config_options

    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s" if args.debug else "meshcam: %(message)s")
    if args.command in ("convert", "bench") and given_config_options(args):
        parser.error(f"{', '.join(given_config_options(args))} do(es) not apply to '{args.command}'")
    if args.command == "convert":
        from models.registry import ensure_models
        models = ensure_models(force=args.force)
        print(f"models ready in {models.directory} ({len(models.manifest['files'])} files, "
              f"converter v{models.manifest['converter_version']})")
        return 0
    if args.command == "bench":
        from benchmarks.bench import bench_cli
        return bench_cli(args)
    config = config_from_args(args)
    if args.command == "process":
        from pipeline.process import process_cli
        return process_cli(args, config)
    if args.command == "batch":
        from pipeline.batch import batch_cli
        return batch_cli(args, config)
    from app.launch import run_app
    return run_app(args, config)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    from models.errors import ModelError
    from pipeline.errors import MeshcamError
    try:
        return run(argv)
    except (ModelError, MeshcamError) as e:
        if "--debug" in argv:
            raise
        print(f"meshcam: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("meshcam: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # a bug, not bad input: say so, keep the traceback for the report
        if "--debug" in argv:
            raise
        log_path = _save_traceback()
        print(f"meshcam: internal error: {type(e).__name__}: {e}\n"
              f"meshcam: this is a bug; the traceback is in {log_path} (or run with --debug)", file=sys.stderr)
        return 1


def _save_traceback() -> str:
    try:
        from platformdirs import user_log_dir
        folder = Path(user_log_dir("meshcam"))
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "last-error.log"
        path.write_text(traceback.format_exc())
        return str(path)
    except Exception:  # noqa: BLE001 - the message above still reaches the user
        return "(could not save it)"


if __name__ == "__main__":
    sys.exit(main())
