"""FaceDetector: BlazeFace (short or full range) on one onnxruntime session (pre/post-processing in numpy)."""
from __future__ import annotations

import cv2
import numpy as np

from pipeline import blazeface
from pipeline.geometry import RotatedRect, rotation_from_points, square_scaled_rect, warp_crop
from pipeline.types import Detection


def preprocess(frame_bgr: np.ndarray, size: int = blazeface.INPUT_SIZE) -> np.ndarray:
    """Letterbox the whole frame into a (1,size,size,3) RGB float32 tensor in [-1, 1].

    Pixels outside the image are black before normalisation (-1 in the tensor), as MediaPipe pads.
    The warp is MediaPipe's exact warpPerspective: this whole-frame downscale decides borderline
    detections, and the faster affine warp flipped one HELEN face in the parity test.
    """
    h, w = frame_bgr.shape[:2]
    side = float(max(w, h))
    crop = warp_crop(frame_bgr, RotatedRect(w / 2, h / 2, side, side, 0.0), size, size, cv2.BORDER_CONSTANT,
                     exact=True)
    rgb = cv2.cvtColor(crop, cv2.COLOR_BGR2RGB)
    return (rgb.astype(np.float32) * (2.0 / 255.0) - 1.0)[None]


def detection_to_roi(det: Detection) -> RotatedRect:
    """Face ROI from a detection: box centre, eye-to-eye rotation, square long side x1.5 (§4.1)."""
    x0, y0, x1, y1 = det.box_xyxy
    rot = rotation_from_points(det.keypoints_px[0], det.keypoints_px[1])
    return square_scaled_rect((x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0, rot)


class FaceDetector:
    """BlazeFace detector, short range (faces over ~1/8 of the frame) or full range (sparse; smaller faces).

    Args:
        session: an onnxruntime session of the spec's converted model.
        min_score: default detection confidence threshold (MediaPipe's min_detection_confidence); each call
            may pass its own.
        spec: blazeface.SHORT or blazeface.FULL.
    """

    def __init__(self, session, min_score: float = 0.5, spec: blazeface.BlazeFaceSpec = blazeface.SHORT):
        self._session = session
        self._input = session.get_inputs()[0].name
        self._outputs = [o.name for o in session.get_outputs()]  # regressors, classificators
        self.min_score = min_score
        self.spec = spec

    def __call__(self, frame_bgr: np.ndarray, max_faces: int | None = None, quarter_turns: int = 0,
                 min_score: float | None = None) -> list[Detection]:
        """Detect faces in a BGR uint8 frame; best first, at most ``max_faces``, score >= ``min_score``
        (the constructor's threshold when None; never below the spec's floor, as MediaPipe).

        ``quarter_turns`` (0-3) runs the detector on the frame turned by that many 90-degree steps
        counter-clockwise (BlazeFace only sees roughly upright faces) and maps the results back.
        """
        threshold = max(self.min_score if min_score is None else min_score, self.spec.score_floor)
        if quarter_turns % 4:
            turned = np.ascontiguousarray(np.rot90(frame_bgr, quarter_turns % 4))
            return [_unturn(d, quarter_turns % 4, frame_bgr.shape[1], frame_bgr.shape[0])
                    for d in self(turned, max_faces, 0, threshold)]
        tensor = preprocess(frame_bgr, self.spec.input_size)
        regressors, logits = self._session.run(self._outputs, {self._input: tensor})
        boxes, kps, scores = blazeface.decode(regressors[0], logits[0, :, 0], threshold, self.spec)
        boxes, kps, scores = blazeface.weighted_nms(boxes, kps, scores)
        if max_faces is not None:
            boxes, kps, scores = boxes[:max_faces], kps[:max_faces], scores[:max_faces]
        h, w = frame_bgr.shape[:2]
        boxes_px = blazeface.letterbox_to_image(boxes.reshape(-1, 2, 2), w, h).reshape(-1, 4)
        kps_px = blazeface.letterbox_to_image(kps, w, h)
        return [Detection(b, k, float(s)) for b, k, s in zip(boxes_px, kps_px, scores)]


def _unturn(det: Detection, turns: int, width: int, height: int) -> Detection:
    """Map a detection made on np.rot90(frame, turns) back to the frame (pixel centres on integers).

    One counter-clockwise rot90 of an image w pixels wide sends (x, y) to (y, w-1-x); so a point
    (x', y') of the turned image came from (w-1-y', x'). Undo the last turn first.
    """
    def back(pts: np.ndarray) -> np.ndarray:
        x, y = pts[..., 0].astype(np.float64), pts[..., 1].astype(np.float64)
        for j in reversed(range(turns)):
            w_j = width if j % 2 == 0 else height  # width of the image the (j+1)-th turn was applied to
            x, y = (w_j - 1) - y, x
        return np.stack([x, y], axis=-1).astype(np.float32)
    corners = back(det.box_xyxy.reshape(2, 2))
    box = np.r_[corners.min(axis=0), corners.max(axis=0)].astype(np.float32)
    return Detection(box, back(det.keypoints_px), det.score)
