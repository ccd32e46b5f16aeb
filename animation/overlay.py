"""Our 2D skeleton drawn over an image with OpenCV (the app's overlay video, the dataset card,
the label review tool). The renderer draws the same bones with GL lines
(``animation.render.Renderer.draw_skeleton_2d``)."""
from __future__ import annotations

import cv2
import numpy as np

from engine import skeleton as S

LEFT = (255, 140, 0)     # BGR: the person's left side, blue
RIGHT = (0, 0, 255)      # their right side, red
CENTRE = (0, 220, 0)     # the spine, neck and head, green


def draw_skeleton(img: np.ndarray, joints_2d: np.ndarray, thickness: int = 1, centre=CENTRE) -> np.ndarray:
    """Our 2D skeleton over a BGR image (H, W, 3) uint8, in place; returns it.

    joints_2d: (16, 2) pixels (pixel centres at integers). Left side blue, right side red, the
    centre line ``centre`` (BGR)."""
    j = np.asarray(joints_2d, dtype=np.float64)
    for b, (s, e) in enumerate(S.BONES):
        name = S.BONE_NAMES[b]
        col = LEFT if name.startswith("l_") else RIGHT if name.startswith("r_") else centre
        p, q = j[s], j[e]
        cv2.line(img, (int(round(p[0])), int(round(p[1]))), (int(round(q[0])), int(round(q[1]))), col, thickness,
                 cv2.LINE_AA)
    return img
