"""Literal numpy ports of MediaPipe's three custom-op kernels (v2), loop form, for testing the lowerings.

Written from the fact sheet's description of mediapipe/util/tflite/operations/*.cc (§1.3-§1.5).
"""
from __future__ import annotations

import math

import numpy as np


def landmarks_to_transform_matrix(lm, subset, left, right, out_w=16, out_h=16, scale_x=1.5, scale_y=1.5, target=0.0):
    lm = np.asarray(lm, np.float64).reshape(-1, 3)
    angle = math.atan2(lm[right, 1] - lm[left, 1], lm[right, 0] - lm[left, 0])
    r = target - angle
    xs, ys = [], []
    for i in subset:
        x, y = lm[i, 0], lm[i, 1]
        xs.append(math.cos(r) * x - math.sin(r) * y)
        ys.append(math.sin(r) * x + math.cos(r) * y)
    w, h = max(xs) - min(xs), max(ys) - min(ys)
    mx, my = (max(xs) + min(xs)) / 2, (max(ys) + min(ys)) / 2
    cx = math.cos(-r) * mx - math.sin(-r) * my
    cy = math.sin(-r) * mx + math.cos(-r) * my

    def eye():
        return np.eye(4)
    t = eye()
    t[0, 3], t[1, 3] = cx, cy
    rot = eye()
    a = -r
    rot[0, 0], rot[0, 1], rot[1, 0], rot[1, 1] = math.cos(a), -math.sin(a), math.sin(a), math.cos(a)
    s = eye()
    s[0, 0], s[1, 1] = scale_x * w / out_w, scale_y * h / out_h
    t2 = eye()
    t2[0, 3], t2[1, 3] = -out_w / 2, -out_h / 2
    return t @ rot @ s @ t2


def transform_tensor_bilinear(feat_nhwc, m, out_h=16, out_w=16):
    _, height, width, channels = feat_nhwc.shape
    xr, yr = m[0].astype(np.float64).copy(), m[1].astype(np.float64).copy()
    xr[3] += 0.5 * xr[0] + 0.5 * xr[1] - 0.5
    yr[3] += 0.5 * yr[0] + 0.5 * yr[1] - 0.5
    out = np.zeros((1, out_h, out_w, channels), np.float64)

    def read(yy, xx):
        if yy < 0 or xx < 0 or yy >= height or xx >= width:
            return np.zeros(channels)
        return feat_nhwc[0, yy, xx].astype(np.float64)
    for v in range(out_h):
        for u in range(out_w):
            tx = xr[0] * u + xr[1] * v + xr[3]
            ty = yr[0] * u + yr[1] * v + yr[3]
            if tx < 0 or tx > width - 1 or ty < 0 or ty > height - 1:
                continue  # hard cut-off: the whole pixel is zero
            fx, fy = math.floor(tx), math.floor(ty)
            ax, ay = tx - fx, ty - fy
            top = (1 - ax) * read(fy, fx) + ax * read(fy, fx + 1)
            bottom = (1 - ax) * read(fy + 1, fx) + ax * read(fy + 1, fx + 1)
            out[0, v, u] = (1 - ay) * top + ay * bottom
    return out


def transform_landmarks(points, m):
    out = np.zeros_like(points, dtype=np.float64)
    for i, (x, y) in enumerate(points[0]):
        out[0, i, 0] = m[0, 0] * x + m[0, 1] * y + m[0, 3]
        out[0, i, 1] = m[1, 0] * x + m[1, 1] * y + m[1, 3]
    return out
