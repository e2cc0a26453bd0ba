"""The bench report's PNG plots, drawn from results.json's numbers (matplotlib, Agg backend).

Conventions: every axis that measures a cost or an error starts at 0 and says "lower is better"; a dashed
line marks a target wherever one exists (the values are bench_report's); names are file stems, shortened
only at a word boundary.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmarks import bench_report as br

MESHCAM, MEDIAPIPE, RAW, BEST = "#3c8dde", "#999999", "#f0a030", "#2ca02c"
TARGET = "#d62728"


def short_label(name: str, width: int = 30) -> str:
    """A file's stem, cut at the last word boundary (_ - space) before ``width`` characters when longer."""
    stem = Path(name).stem
    if len(stem) <= width:
        return stem
    cut = max(stem.rfind(sep, 0, width) for sep in "_- ")
    return (stem[:cut] if cut > width // 3 else stem[:width]) + "…"


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _save(fig, out: Path, name: str) -> str:
    fig.tight_layout()
    fig.savefig(out / name, dpi=110)
    _plt().close(fig)
    return name


def _target(ax, y: float, label: str, x0=None, x1=None) -> None:
    if x0 is None:
        ax.axhline(y, color=TARGET, ls="--", lw=1.2, label=label)
    else:
        ax.hlines(y, x0, x1, color=TARGET, ls="--", lw=1.5, label=label)


def speed_plot(results: dict, out: Path) -> str | None:
    speed = br._data(results, "speed")
    rows = (speed or {}).get("race")
    if not rows:
        return None
    plt = _plt()
    labels = [f"{r['faces']} face{'s' if r['faces'] > 1 else ''}\nsmooth {'on' if r['smooth'] else 'off'}\n"
              f"{'interl.' if r['mode'] == 'interleaved' else 'paced'}" for r in rows]
    x = np.arange(len(rows))
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(11, 7.5), sharex=True)
    faces = np.array([r["faces"] for r in rows], float)
    medians = {k: np.array([r[k]["median_ms"] for r in rows]) / faces for k in ("meshcam", "mediapipe")}
    top = 2.2 * max(m.max() for m in medians.values())  # p90 spikes of a shared machine must not flatten the bars
    for dx, key, color, name in ((-0.2, "meshcam", MESHCAM, "meshcam"), (0.2, "mediapipe", MEDIAPIPE, "MediaPipe")):
        p90 = np.array([r[key]["p90_ms"] for r in rows]) / faces
        ax.bar(x + dx, medians[key], 0.4, color=color, label=f"{name} median")
        ax.scatter(x + dx, np.minimum(p90, top * 0.97), marker="_", s=120, color="black",
                   label="p90" if key == "meshcam" else None, zorder=3)
        for xi, v in zip(x + dx, p90):
            if v > top * 0.97:
                ax.annotate(f"p90 {v:.0f}↑", (xi, top * 0.97), ha="center", va="top", fontsize=6, rotation=90,
                            xytext=(0, -4), textcoords="offset points")
    ax.set_ylabel("ms per frame per face\n(lower is better)")
    ax.set_ylim(0, top)
    ax.set_title("Time per frame divided by the faces in it, same frames, same run")
    ax.legend(fontsize=8, loc="upper left")
    ratio = [r["ratio"] for r in rows]
    ax2.bar(x, ratio, 0.5, color=MESHCAM)
    for xi, v in zip(x, ratio):
        ax2.text(xi, v + 0.02, f"{v:.2f}", ha="center", fontsize=8)
    ax2.axhline(1.0, color="black", lw=0.8, label="parity with MediaPipe")
    for i, r in enumerate(rows):  # where a target applies: 1 face, smoothing on
        if r["faces"] == 1 and r["smooth"]:
            limit = br.SPEED_RATIO if r["mode"] == "interleaved" else br.PACED_SPEED_RATIO
            _target(ax2, limit, f"target ≤ {limit:.2f}× (1 face, smoothing on, {r['mode']})", i - 0.35, i + 0.35)
    ax2.set_ylabel("meshcam / MediaPipe, median\n(lower is better)")
    ax2.set_ylim(0, max(1.3, max(ratio) + 0.15))
    ax2.set_xticks(x, labels, fontsize=8)
    ax2.legend(fontsize=8, loc="upper left")
    return _save(fig, out, "speed.png")


def presets_plot(results: dict, out: Path) -> str | None:
    presets = (br._data(results, "speed") or {}).get("presets")
    if not presets:
        return None
    plt = _plt()
    names = [p["preset"] for p in presets]
    x = np.arange(len(names))
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    for dx, mode, color in ((-0.2, "interleaved", MESHCAM), (0.2, "paced", "#8fb8e8")):
        ax.bar(x + dx, [p[mode]["ratio"] for p in presets], 0.4, color=color, label=mode)
    ax.axhline(1.0, color="black", lw=0.8)
    for name, limit in (("full", br.SPEED_RATIO), ("fast", br.FAST_SPEED_RATIO)):
        if name in names:
            i = names.index(name)
            _target(ax, limit, f"target ≤ {limit:.2f}× ({name}, interleaved)", i - 0.45, i + 0.05)
    ax.set_xticks(x, names)
    ax.set_ylim(bottom=0)
    ax.set_ylabel("meshcam / MediaPipe, median ms\n(lower is better)")
    ax.set_title("Speed per preset (1 face, smoothing on)")
    ax.legend(fontsize=8)
    err = [p["error_vs_mediapipe_pct_iod"] for p in presets]
    mean = np.array([e["mean"] for e in err])
    ax2.bar(x, mean, 0.5, color=MESHCAM)
    ax2.errorbar(x, mean, yerr=[mean - [e["min"] for e in err], np.array([e["max"] for e in err]) - mean],
                 fmt="none", ecolor="black", capsize=3, lw=0.8)
    ax2.set_xticks(x, names)
    ax2.set_ylim(bottom=0)
    ax2.set_ylabel("distance to MediaPipe, % IOD\n(lower is better)")
    ax2.set_title("Accuracy cost (mean, min–max over photos)")
    return _save(fig, out, "presets.png")


def jitter_plot(results: dict, out: Path) -> str | None:
    acc = br._data(results, "accuracy")
    if not acc:
        return None
    plt = _plt()
    table = acc["rig"]["jitter_percent_iod"]
    fig, axes = plt.subplots(1, 3, figsize=(13, 4), sharey=False)
    regions = list(br.REGIONS)
    x = np.arange(len(regions))
    methods = (("mediapipe", MEDIAPIPE, "MediaPipe"), ("raw", RAW, "meshcam raw"), ("live", MESHCAM, "meshcam live"),
               ("best", BEST, "meshcam best (offline)"))
    for ax, (motion, per_method) in zip(axes, table.items()):
        for i, (m, color, name) in enumerate(methods):
            ax.bar(x + (i - 1.5) * 0.2, [per_method[m][r] for r in regions], 0.2, color=color, label=name)
        live_x = x + 0.5 * 0.2  # the live bars
        if motion == "still":
            _target(ax, br.STILL_JITTER_RATIO * per_method["mediapipe"]["all"],
                    f"target: live ≤ {br.STILL_JITTER_RATIO}× MediaPipe (all)", live_x[0] - 0.15, live_x[0] + 0.15)
        elif motion == "sweep":
            _target(ax, br.SWEEP_JITTER_RATIO * per_method["mediapipe"]["all"],
                    f"target: live ≤ {br.SWEEP_JITTER_RATIO:g}× MediaPipe (all)", live_x[0] - 0.15, live_x[0] + 0.15)
        else:
            ax.hlines([per_method["raw"][r] for r in regions], live_x - 0.12, live_x + 0.12, color=TARGET, ls="--",
                      lw=1.5, label="target: live ≤ raw (each region)")
        ax.set_xticks(x, regions, fontsize=8)
        ax.set_ylim(bottom=0)
        ax.set_title(motion)
        ax.legend(fontsize=7)
    axes[0].set_ylabel("jitter, % of IOD (lower is better)")
    return _save(fig, out, "jitter.png")


def jitter_photos_plot(results: dict, out: Path) -> str | None:
    acc = br._data(results, "accuracy")
    per = (acc or {}).get("rig", {}).get("live_still_vs_mediapipe_per_photo")
    if not per:
        return None
    plt = _plt()
    names = list(per)
    labels = [short_label(n, 60) for n in names]  # full stems: partial_face and partial_face2 must differ
    fig, ax = plt.subplots(figsize=(max(5, 0.45 * len(names) + 2), 3 + 0.065 * max(map(len, labels))))
    ax.bar(np.arange(len(names)), [per[n] for n in names], 0.6, color=MESHCAM)
    _target(ax, br.STILL_JITTER_RATIO, f"target ≤ {br.STILL_JITTER_RATIO}×")
    ax.set_xticks(np.arange(len(names)), labels, rotation=60, ha="right", fontsize=7)
    ax.set_ylim(bottom=0)
    ax.set_ylabel("live / MediaPipe jitter\n(lower is better)")
    ax.set_title("Still face + noise, per photo")
    ax.legend(fontsize=8)
    return _save(fig, out, "jitter_photos.png")


def nme_plot(results: dict, out: Path) -> str | None:
    acc = br._data(results, "accuracy")
    if not acc:
        return None
    plt = _plt()
    nme = acc["nme"]
    methods = list(nme["nme_percent"])
    regions = ("all", "eyes", "lips")
    x = np.arange(len(methods))
    fig, ax = plt.subplots(figsize=(max(6, 1.4 * len(methods) + 2), 4))
    for i, (r, color) in enumerate(zip(regions, (MESHCAM, "#8fb8e8", RAW))):
        ax.bar(x + (i - 1) * 0.26, [nme["nme_percent"][m][r] for m in methods], 0.26, color=color, label=r)
    _target(ax, nme["nme_percent"]["mediapipe"]["all"], "MediaPipe, all (live's parity target; best must be below)")
    ax.set_xticks(x, [f"{m}\nfound {nme['found'][m]}/{nme['faces']}" for m in methods], fontsize=8)
    ax.set_ylim(0, 1.45 * max(v["all"] for v in nme["nme_percent"].values()))
    ax.set_ylabel("NME, % of outer-eye-corner distance\n(lower is better)")
    ax.set_title(f"NME over the {nme['faces_found_by_all']} faces every method found")
    ax.legend(fontsize=8, loc="upper center", ncol=2)
    return _save(fig, out, "nme.png")


def pose_plot(results: dict, out: Path) -> str | None:
    sig = br._data(results, "signals")
    if not sig:
        return None
    from benchmarks.signals_bench import PUBLISHED_MAE
    plt = _plt()
    a = sig["aflw2000"]
    keys = ("mae_pitch", "mae_yaw", "mae_roll", "mae_mean")
    fig, ax = plt.subplots(figsize=(9, 3.8))
    ax.bar(np.arange(4), [a[k] for k in keys], 0.55, color=MESHCAM)
    _target(ax, br.POSE_MAE_DEG, f"target: mean ≤ {br.POSE_MAE_DEG:g}°")
    for (name, value), style in zip(PUBLISHED_MAE.items(), (":", "-.", (0, (1, 3)))):
        ax.axhline(value, color="#555555", ls=style, lw=1, label=f"{name} (published mean) {value}°")
    ax.set_xticks(np.arange(4), ["pitch", "yaw", "roll", "mean"])
    ax.set_ylim(bottom=0)
    ax.set_ylabel("MAE, degrees (lower is better)")
    ax.set_title(f"Head pose on AFLW2000-3D ({a['detected']}/{a['faces']} faces)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _save(fig, out, "pose.png")


def outputs_plot(results: dict, out: Path) -> str | None:
    d = br._data(results, "outputs")
    if not d:
        return None
    rows = [(k, v) for k, v in d.items() if isinstance(v, dict) and "median_ms" in v]
    if not rows:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(rows) + 1.5))
    y = np.arange(len(rows))
    med = np.array([v["median_ms"] for _, v in rows])
    p90 = np.array([v["p90_ms"] for _, v in rows])
    ax.barh(y, med, 0.6, color=MESHCAM, label="median")
    ax.errorbar(med, y, xerr=[np.zeros_like(med), p90 - med], fmt="none", ecolor="black", capsize=3, lw=0.8,
                label="p90")
    ax.set_yticks(y, [k for k, _ in rows], fontsize=8)
    ax.set_xlim(left=0)
    ax.set_xlabel("ms per frame (lower is better)")
    ax.set_title("Live outputs: cost per frame (no numeric target)")
    ax.legend(fontsize=8)
    return _save(fig, out, "outputs.png")


PLOTS = (speed_plot, presets_plot, jitter_plot, jitter_photos_plot, nme_plot, pose_plot, outputs_plot)


def all_plots(results: dict, out: Path, on_error=None) -> list[str]:
    """Every plot whose section ran; a plot that fails is left out (its traceback via ``on_error``)."""
    files = []
    for plot in PLOTS:
        try:
            name = plot(results, out)
        except Exception:  # noqa: BLE001 - a plot never loses the report
            if on_error is not None:
                on_error(plot.__name__)
            continue
        if name:
            files.append(name)
    return files
