"""Submodels of the attention mesh and what each set computes (no onnx here: imported per frame).

The mesh and the face flag always run. The refinement network has three crops (lips, left eye, right eye)
and five heads on them (lips, the two eye contours, the two irises); a set computes only the crops its
heads need (models/lean_graph.py builds its graph), so a submodel switched off costs nothing.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass


class Submodels(enum.Flag):
    """Attention-mesh submodels to compute (the mesh itself always runs). Any subset is valid.

    "Left"/"right" are the SUBJECT's own, as in ARKit and MediaPipe's FACEMESH_LEFT_EYE (corners 263/362,
    iris 473-477; on the image's right in an unmirrored frame). Careful: the tflite's ``output_left_eye`` /
    ``output_left_iris`` heads are the OTHER eye (image-left = the subject's right: corners 33/133, iris
    468-472), so LEFT_EYE selects the model's "right" branch. An iris needs its eye's branch, which also
    yields the eye contour; a variant without the contour still cuts that head.
    """
    NONE = 0
    LIPS = enum.auto()
    LEFT_EYE = enum.auto()
    RIGHT_EYE = enum.auto()
    LEFT_IRIS = enum.auto()
    RIGHT_IRIS = enum.auto()
    EYES = LEFT_EYE | RIGHT_EYE
    IRISES = LEFT_IRIS | RIGHT_IRIS
    ALL = LIPS | EYES | IRISES

    @classmethod
    def from_flags(cls, lips: bool, eyes: bool, iris: bool) -> Submodels:
        return (cls.LIPS if lips else cls.NONE) | (cls.EYES if eyes else cls.NONE) | (cls.IRISES if iris else cls.NONE)

    @classmethod
    def parse(cls, text: str) -> Submodels:
        """'all', 'none', or names joined by '+' or ',' (lips, eyes, irises, left_eye, right_iris, ...)."""
        out = cls.NONE
        for part in filter(None, (p.strip().lower() for p in text.replace(",", "+").split("+"))):
            name = {"iris": "IRISES", "eye": "EYES", "mesh": "NONE"}.get(part, part.upper())
            if name not in cls.__members__:
                raise ValueError(f"unknown submodel {part!r} (use lips, eyes, irises, left_eye, right_eye, "
                                 "left_iris, right_iris, all or none)")
            out |= cls[name]
        return out

    @property
    def label(self) -> str:
        if self == Submodels.ALL:
            return "all"
        parts = [m.name.lower() for m in (Submodels.LIPS, Submodels.EYES, Submodels.IRISES) if m in self]
        parts += [m.name.lower() for m in (Submodels.LEFT_EYE, Submodels.RIGHT_EYE, Submodels.LEFT_IRIS,
                                          Submodels.RIGHT_IRIS)
                  if m in self and not any(m in g and g in self for g in (Submodels.EYES, Submodels.IRISES))]
        return "+".join(parts) or "none"


# Crops (stems) and heads in the order the lean graph stacks them; each head reads one crop.
STEMS = ("lips", "left_eye", "right_eye")
HEADS = ("lips", "left_eye", "left_iris", "right_eye", "right_iris")
HEAD_STEM = {"lips": "lips", "left_eye": "left_eye", "left_iris": "left_eye", "right_eye": "right_eye",
             "right_iris": "right_eye"}
# Head names are the model's own (output_left_eye, ...), which are the viewer's: its "left" eye head refines
# landmarks 33-133 (MediaPipe's FACEMESH_RIGHT_EYE, the subject's right eye) and its "left" iris fills 468-472
# (FACEMESH_RIGHT_IRIS). Submodels name the subject's own side, so they cross over here.
HEAD_FLAG = {"lips": Submodels.LIPS, "left_eye": Submodels.RIGHT_EYE, "left_iris": Submodels.RIGHT_IRIS,
             "right_eye": Submodels.LEFT_EYE, "right_iris": Submodels.LEFT_IRIS}
HEAD_POINTS = {"lips": 80, "left_eye": 71, "left_iris": 5, "right_eye": 71, "right_iris": 5}


def head_landmarks(topology) -> dict[str, list[int]]:
    """The landmarks (of the 478) each head fills, from the converted model's topology.json: lips and eye
    contours give x, y of mesh points (the mesh's z is kept); an iris head fills 468-472 (``left_iris``, the
    model's name) or 473-477."""
    r = topology["refinement"]
    return {"lips": list(r["lips"]), "left_eye": list(r["left_eye"]), "right_eye": list(r["right_eye"]),
            "left_iris": list(range(468, 473)), "right_iris": list(range(473, 478))}


def iris_z_sources(topology) -> dict[str, list[int]]:
    """Per iris head, the eye-contour landmarks whose mean z MediaPipe gives the iris (topology.json)."""
    z = topology["iris_z_average"]
    return {"left_iris": list(z["left"]), "right_iris": list(z["right"])}


# Speed presets. Measured (mesh time relative to full, one face, cold-ish calls; mean distance to MediaPipe's
# refined landmarks on 28 shared photos, % IOD): fast = mesh only 0.53x, 0.95 % (no irises); lips 0.66x, 0.48 %;
# irises 0.90x, 0.93 %; eyes + irises 0.97x, 0.47 %; lips + eyes 1.0x, 0.011 %; full 1.0x, 0.011 %. The first
# crop costs most (crops share one merged branch), so balanced = lips: half fast's error at a quarter of the
# way from fast to full (no irises: gaze is off).
PRESETS = {"full": Submodels.ALL, "balanced": Submodels.LIPS, "fast": Submodels.NONE}


@dataclass(frozen=True)
class Layout:
    """Which crops and heads a submodel set computes, in stacking order."""
    stems: tuple[str, ...]
    heads: tuple[str, ...]

    @staticmethod
    def of(submodels: Submodels) -> Layout:
        heads = tuple(h for h in HEADS if HEAD_FLAG[h] in submodels)
        stems = tuple(s for s in STEMS if any(HEAD_STEM[h] == s for h in heads))
        return Layout(stems, heads)

    @property
    def points(self) -> int:
        """Values per head in the merged heads' padded output (the longest head's x, y count)."""
        return max((HEAD_POINTS[h] for h in self.heads), default=0) * 2


def variant_key(submodels: Submodels) -> str:
    """Stable name: 'mesh' or 'mesh+lips+left_eye+...' in HEADS order."""
    return "+".join(["mesh", *(h for h in HEADS if HEAD_FLAG[h] in submodels)])


def all_submodel_sets() -> list[Submodels]:
    """Every one of the 32 subsets."""
    flags = [HEAD_FLAG[h] for h in HEADS]
    out = []
    for bits in range(1 << len(flags)):
        s = Submodels.NONE
        for i, f in enumerate(flags):
            if bits >> i & 1:
                s |= f
        out.append(s)
    return out
