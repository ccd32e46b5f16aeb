"""``PersonDetector``: the people in a whole frame, for acquiring a person to track.

The network is MediaPipe's BlazePose person detector (``pose_detection.tflite``
from the mediapipe 0.10.21 wheel, Apache-2.0), converted to ONNX by
``trainer/detector_convert.py`` and shipped as ``assets/person_detector.onnx``
(see docs/acquisition.md for the conversion check, the measured recall, false
alarms and cost, and assets/NOTICE.md for the licence).

One pass:

1. Letterbox: the frame scaled to fit 224 x 224 with its aspect kept (one
   bilinear warp), centred on a black border; RGB mapped to [-1, 1].
2. Network: 2254 SSD anchors (strides 8, 16, 32, 32, 32 on the 224 input: 28x28x2
   + 14x14x2 + 7x7x6 anchor centres; fixed anchor size 1), each with a score
   logit and 12 regressed values: a box (centre x, y, width, height) then four
   keypoints (x, y), in input pixels relative to the anchor centre.
3. Decode: sigmoid scores (logits clipped to +-100), boxes and keypoints moved
   to their anchors, kept above ``min_score``; weighted non-maximum suppression
   (IoU > 0.3 with the best box: score-weighted mean of the cluster's boxes and
   keypoints, the best score kept).
4. Back to frame pixels; the body region from the keypoints.

The detector's own box is the *face* box. The four keypoints are: 0 the hip
centre, 1 a point whose distance from the hip centre is half the full-body
size and whose direction is the body's "up", 2 the shoulder centre, 3 the same
kind of point for the upper body. The body region is therefore the square of
side 2 |k1 - k0| around k0, turned by the body's rotation (0 when upright):
``Detection.box`` is its axis-aligned bounding box and ``Detection.crop`` a
square ``crop_scale`` times that size around the hip centre, in the
``engine.preprocess.Box`` convention the pose network's crops use.
``Detection.upright_crop`` is the body square itself, ``crop_scale`` times its
side, turned by ``rotation`` (``Box.angle``, the same sign): the crop in which
the body stands upright (issue 29; the estimator's acquisition crop with
``tracking.upright``).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.backend_base import ort_session
from engine.preprocess import Box, crop

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = ROOT / "assets" / "person_detector.onnx"

INPUT_SIZE = 224
STRIDES = (8, 16, 32, 32, 32)
ANCHORS_PER_LAYER = 2          # aspect ratio 1.0 plus the interpolated-scale anchor, both of size 1
NUM_KEYPOINTS = 4
KEYPOINT_NAMES = ("hip_centre", "body_scale", "shoulder_centre", "upper_body_scale")
NMS_IOU = 0.3
SCORE_CLIP = 100.0


def ssd_anchor_centres(size: int = INPUT_SIZE, strides=STRIDES, per_layer: int = ANCHORS_PER_LAYER) -> np.ndarray:
    """(N, 2) anchor centres (x, y) in input pixels, in the network's output order.

    Consecutive layers with the same stride share one feature map; each cell of
    it carries ``per_layer`` anchors per layer, all at the cell centre.
    For the detector: N = 28*28*2 + 14*14*2 + 7*7*6 = 2254.
    """
    out = []
    i = 0
    while i < len(strides):
        j = i
        while j < len(strides) and strides[j] == strides[i]:
            j += 1
        n_cell = per_layer * (j - i)
        fm = -(-size // strides[i])
        ys, xs = np.meshgrid((np.arange(fm) + 0.5) / fm, (np.arange(fm) + 0.5) / fm, indexing="ij")
        cells = np.stack([xs.ravel(), ys.ravel()], 1) * size
        out.append(np.repeat(cells, n_cell, axis=0))
        i = j
    return np.concatenate(out).astype(np.float32)


@dataclass(frozen=True)
class Detection:
    """One person in frame pixels (pixel centres at integer coordinates).

    box: (x0, y0, x1, y1) the body region's axis-aligned bounding box.
    score: 0..1.
    keypoints: (4, 2) hip centre, full-body scale point, shoulder centre, upper-body scale point.
    face_box: (x0, y0, x1, y1) the detector's own box (around the face).
    centre: (2,) the hip centre; side: the body region's side (2 |k1 - k0|);
    rotation: radians to turn the crop by so the body stands upright (0 upright,
    positive when the body leans to the right of the image, i.e. clockwise): the body's up
    (hip centre to k1) is ``(sin rotation, -cos rotation)`` in frame pixels, the
    ``engine.preprocess.Box.angle`` convention (``upright_angle``).
    crop: a square ``engine.preprocess.Box`` for the pose network (axis aligned), covering
    the turned body square.
    upright_crop: the body square, ``crop_scale`` times its side around the hip centre,
    turned by ``rotation`` (a ``Box`` with ``angle = rotation``): the body upright in it.
    """
    box: tuple
    score: float
    keypoints: np.ndarray
    face_box: tuple
    centre: np.ndarray
    side: float
    rotation: float
    crop: Box = field(repr=False)
    upright_crop: Box | None = field(default=None, repr=False)

    @property
    def area(self) -> float:
        return max(0.0, self.box[2] - self.box[0]) * max(0.0, self.box[3] - self.box[1])


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one (4,) x0, y0, x1, y1 box with (N, 4) boxes."""
    x0 = np.maximum(box[0], boxes[:, 0])
    y0 = np.maximum(box[1], boxes[:, 1])
    x1 = np.minimum(box[2], boxes[:, 2])
    y1 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    a = (box[2] - box[0]) * (box[3] - box[1])
    b = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(a + b - inter, 1e-9)


def weighted_nms(boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray, iou: float = NMS_IOU):
    """Weighted non-maximum suppression.

    boxes (N, 4) x0, y0, x1, y1; keypoints (N, K, 2); scores (N,). Repeatedly
    takes the best remaining box and every remaining box overlapping it by IoU
    > ``iou``; the result is their score-weighted mean box and keypoints with
    the best score. Returns a list of (box (4,), keypoints (K, 2), score), best first.
    """
    order = np.argsort(-scores, kind="stable")
    boxes, keypoints, scores = boxes[order], keypoints[order], scores[order]
    alive = np.ones(len(scores), bool)
    out = []
    for i in range(len(scores)):
        if not alive[i]:
            continue
        rest = np.flatnonzero(alive)
        member = rest[_iou(boxes[i], boxes[rest]) > iou]
        member = np.union1d(member, [i])
        w = scores[member][:, None]
        out.append(((boxes[member] * w).sum(0) / w.sum(), (keypoints[member] * w[:, :, None]).sum(0) / w.sum(),
                    float(scores[i])))
        alive[member] = False
    return out


class PersonDetector:
    """People in a BGR frame: ``detect(frame) -> list[Detection]``, best score first.

    model: the ONNX of ``trainer/detector_convert.py``; threads: ONNX Runtime
    intra-op threads (0 = all cores); min_score: the decision threshold on the
    sigmoid score (docs/acquisition.md measures it); crop_scale: the suggested
    crop relative to the body region (the pose network's ``tracking.crop_scale``).
    """

    def __init__(self, model: str | Path = DEFAULT_MODEL, threads: int = 0, min_score: float = 0.5,
                 crop_scale: float = 1.25, max_people: int = 10):
        path = Path(model)
        if not path.exists():
            raise FileNotFoundError(f"{path}: person detector model not found")
        self.sess = ort_session(path, threads)
        shape = self.sess.get_inputs()[0].shape
        if list(shape) != [1, INPUT_SIZE, INPUT_SIZE, 3]:
            raise ValueError(f"{path}: expected input (1, {INPUT_SIZE}, {INPUT_SIZE}, 3), got {shape}")
        self.input_name = self.sess.get_inputs()[0].name
        self.output_names = [o.name for o in self.sess.get_outputs()]
        self.anchors = ssd_anchor_centres()
        self.min_score = float(min_score)
        self.crop_scale = float(crop_scale)
        self.max_people = int(max_people)
        self.timings = {"preprocess": 0.0, "inference": 0.0, "decode": 0.0}

    def close(self) -> None:
        """Release the ONNX Runtime session; the detector cannot run after it."""
        self.sess = None

    # --- steps ---------------------------------------------------------------------------
    @staticmethod
    def letterbox(frame_bgr: np.ndarray, region: Box | None = None) -> tuple[np.ndarray, float, np.ndarray]:
        """The network input for a square region of the frame (default: the whole frame letterboxed).

        Returns (1, 224, 224, 3) float32 RGB in [-1, 1], the scale s and the (2,) offset with
        network (continuous) coordinates X = s * (u - offset) for frame pixel centres u. One
        bilinear warp with a black border, as MediaPipe prepares this network's input (an
        area-averaged resize shifts scores near the threshold: docs/acquisition.md).
        """
        h, w = frame_bgr.shape[:2]
        box = Box.full_frame(w, h) if region is None else region
        canvas = crop(frame_bgr, box, INPUT_SIZE)   # crop pixel centre u_c = s (u - left) - 0.5
        x = canvas[None, :, :, ::-1].astype(np.float32) * (2.0 / 255.0) - 1.0
        return x, INPUT_SIZE / box.side, np.array([box.left, box.top])

    def decode(self, regressors: np.ndarray, logits: np.ndarray, min_score: float | None = None):
        """Raw outputs (2254, 12), (2254,) -> list of (box (4,), keypoints (4, 2), score) in input pixels."""
        thr = self.min_score if min_score is None else min_score
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits.astype(np.float64), -SCORE_CLIP, SCORE_CLIP)))
        keep = np.flatnonzero(scores >= thr)
        if keep.size == 0:
            return []
        r = regressors[keep].astype(np.float64)
        a = self.anchors[keep].astype(np.float64)
        c = r[:, 0:2] + a
        half = r[:, 2:4] / 2
        boxes = np.concatenate([c - half, c + half], 1)
        kps = r[:, 4:4 + 2 * NUM_KEYPOINTS].reshape(-1, NUM_KEYPOINTS, 2) + a[:, None, :]
        return weighted_nms(boxes, kps, scores[keep])[: self.max_people]

    def to_detection(self, face: np.ndarray, kf: np.ndarray, score: float) -> Detection:
        """A detection (face box (4,), keypoints (4, 2), frame pixels) with its body region and crop."""
        centre = kf[0]
        v = kf[1] - kf[0]
        side = 2.0 * float(np.hypot(*v))
        rotation = float(np.arctan2(v[0], -v[1]))  # 0 when k1 is straight above k0 (image y grows down)
        # the square of side `side` around the centre, turned by `rotation`: its axis-aligned extent
        ext = side / 2 * (abs(np.cos(rotation)) + abs(np.sin(rotation)))
        body = (centre[0] - ext, centre[1] - ext, centre[0] + ext, centre[1] + ext)
        cside = max(2 * ext * self.crop_scale, 1.0)
        crop = Box(float(centre[0] - cside / 2), float(centre[1] - cside / 2), float(cside))
        uside = max(side * self.crop_scale, 1.0)
        upright = Box(float(centre[0] - uside / 2), float(centre[1] - uside / 2), float(uside), rotation)
        return Detection(box=tuple(float(b) for b in body), score=float(score), keypoints=kf, face_box=tuple(
            float(b) for b in face), centre=centre, side=side, rotation=rotation, crop=crop, upright_crop=upright)

    # --- the whole pass ------------------------------------------------------------------
    def raw(self, frame_bgr: np.ndarray, region: Box | None = None):
        """Network outputs for a frame region: regressors (2254, 12), logits (2254,), scale, offset (2,)."""
        t0 = time.perf_counter()
        x, scale, offset = self.letterbox(frame_bgr, region)
        t1 = time.perf_counter()
        outs = dict(zip(self.output_names, self.sess.run(None, {self.input_name: x})))
        t2 = time.perf_counter()
        self.timings["preprocess"] += t1 - t0
        self.timings["inference"] += t2 - t1
        return outs["regressors"][0], outs["scores"][0, :, 0], scale, offset

    def detect(self, frame_bgr: np.ndarray, min_score: float | None = None,
               regions: list[Box] | None = None) -> list[Detection]:
        """The people in a BGR uint8 frame (H, W, 3), best score first (at most ``max_people``).

        regions: square ``Box`` es of the frame to run the network on (one pass each; default
        the whole frame letterboxed). Small people are found in smaller regions
        (``tile_regions``); detections of all regions are merged by the same weighted NMS.
        """
        if frame_bgr is None or frame_bgr.ndim != 3 or frame_bgr.shape[2] != 3:
            raise ValueError("detect expects a BGR frame (H, W, 3)")
        for k in self.timings:
            self.timings[k] = 0.0
        boxes, kps, scores = [], [], []
        for region in regions or [None]:
            reg, logits, scale, offset = self.raw(frame_bgr, region)
            t0 = time.perf_counter()
            for b, k, sc in self.decode(reg, logits, min_score):
                boxes.append(b / scale + np.tile(offset, 2))
                kps.append(k / scale + offset)
                scores.append(sc)
            self.timings["decode"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        merged = weighted_nms(np.array(boxes), np.array(kps), np.array(scores)) if len(scores) > 1 else \
            list(zip(boxes, kps, scores))
        dets = [self.to_detection(b, k, sc) for b, k, sc in merged[: self.max_people]]
        self.timings["decode"] += time.perf_counter() - t0
        return dets

    __call__ = detect


def tile_regions(width: int, height: int, side_frac: float = 1.0, overlap: float = 0.2) -> list[Box]:
    """Square regions of side ``side_frac`` x the frame's short side covering the frame.

    Neighbours overlap by at least ``overlap`` of the side; the first region is the whole frame
    letterboxed. With side_frac = 1 a 16:9 frame gets the letterbox plus two squares (people
    are 1.8 times larger in them than in the letterbox).
    """
    side = side_frac * min(width, height)
    out = [Box.full_frame(width, height)]

    def starts(extent):
        if side >= extent:
            return [(extent - side) / 2]
        n = int(np.ceil((extent - side) / (side * (1 - overlap)))) + 1
        return list(np.linspace(0, extent - side, n))

    for y in starts(height):
        for x in starts(width):
            out.append(Box(float(x) - 0.5, float(y) - 0.5, float(side)))
    return out
