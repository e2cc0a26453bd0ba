"""FaceDetector: BlazeFace short-range on one onnxruntime session (pre/post-processing in numpy)."""
from __future__ import annotations

import cv2
import numpy as np

from pipeline import blazeface
from pipeline.geometry import RotatedRect, rotation_from_points, square_scaled_rect, warp_crop
from pipeline.types import Detection


def preprocess(frame_bgr: np.ndarray) -> np.ndarray:
    """Letterbox the whole frame into a (1,128,128,3) RGB float32 tensor in [-1, 1].

    Pixels outside the image are black before normalisation (-1 in the tensor), as MediaPipe pads.
    The warp is MediaPipe's exact warpPerspective: this whole-frame downscale decides borderline
    detections, and the faster affine warp flipped one HELEN face in the parity test.
    """
    h, w = frame_bgr.shape[:2]
    side = float(max(w, h))
    crop = warp_crop(frame_bgr, RotatedRect(w / 2, h / 2, side, side, 0.0), blazeface.INPUT_SIZE,
                     blazeface.INPUT_SIZE, cv2.BORDER_CONSTANT, exact=True)
    rgb = cv2.cvtColor(crop, cv2.COLOR_BGR2RGB)
    return (rgb.astype(np.float32) * (2.0 / 255.0) - 1.0)[None]


def detection_to_roi(det: Detection) -> RotatedRect:
    """Face ROI from a detection: box centre, eye-to-eye rotation, square long side x1.5 (§4.1)."""
    x0, y0, x1, y1 = det.box_xyxy
    rot = rotation_from_points(det.keypoints_px[0], det.keypoints_px[1])
    return square_scaled_rect((x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0, rot)


class FaceDetector:
    """BlazeFace front (short range) detector.

    Args:
        session: an onnxruntime session of face_detection_short_range.onnx.
        min_score: detection confidence threshold (MediaPipe's min_detection_confidence).
    """

    def __init__(self, session, min_score: float = 0.5):
        self._session = session
        self._input = session.get_inputs()[0].name
        self._outputs = [o.name for o in session.get_outputs()]  # regressors, classificators
        self.min_score = min_score

    def __call__(self, frame_bgr: np.ndarray, max_faces: int | None = None) -> list[Detection]:
        """Detect faces in a BGR uint8 frame; best first, at most ``max_faces``."""
        regressors, logits = self._session.run(self._outputs, {self._input: preprocess(frame_bgr)})
        boxes, kps, scores = blazeface.decode(regressors[0], logits[0, :, 0], self.min_score)
        boxes, kps, scores = blazeface.weighted_nms(boxes, kps, scores)
        if max_faces is not None:
            boxes, kps, scores = boxes[:max_faces], kps[:max_faces], scores[:max_faces]
        h, w = frame_bgr.shape[:2]
        boxes_px = blazeface.letterbox_to_image(boxes.reshape(-1, 2, 2), w, h).reshape(-1, 4)
        kps_px = blazeface.letterbox_to_image(kps, w, h)
        return [Detection(b, k, float(s)) for b, k, s in zip(boxes_px, kps_px, scores)]
