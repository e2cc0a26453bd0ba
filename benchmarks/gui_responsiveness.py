"""How responsive the window stays while a clip plays: `python -m benchmarks.gui_responsiveness [CLIP]`.

Opens the real window (offscreen unless a display is set) on a clip and records, with a 5 ms Qt timer, the gaps
between event-loop turns after a 3 s warm-up: median, p99 and max gap in ms, and the frames shown per second.
A gap is time the GUI thread could not answer a click or a key.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.reference import VIDEOS  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("clip", nargs="?", default=str(VIDEOS / "LivePortrait_d13.mp4"))
    p.add_argument("--seconds", type=float, default=8.0)
    args = p.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from app.responsiveness import measure
    r = measure(args.clip, args.seconds)
    print(f"{r['clip']}: event-loop gaps median {r['median_gap_ms']:.1f} ms, p99 {r['p99_gap_ms']:.1f} ms, "
          f"max {r['max_gap_ms']:.1f} ms; {r['frames_shown_per_s']:.1f} frames shown per second")
    return 0


if __name__ == "__main__":
    sys.exit(main())
