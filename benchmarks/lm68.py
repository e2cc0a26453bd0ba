"""Our 478 -> 68 correspondence for NME against 300-W-style annotations (0-based 68-point order).

Mesh vertices were picked from the mesh's own regions: eye contours (33/133 and 362/263 are the eye
corners), the lip rows of the refinement lists, the eyebrow rows, the nose and the face oval. The 68-point
markup and mesh vertices are defined differently (the jaw most of all: 300-W jaw points slide with pose,
mesh vertices do not), so NMEs through this map compare our variants with each other, not with
published 68-point records.
"""
import numpy as np

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
