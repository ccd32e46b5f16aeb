"""3D on real held-out video against a multi-view triangulation: the app (motion model on and off), the
optimisation lifter, BlazePose's own 3D and constant poses, PA-MPJPE on 12 limb joints.

``python -m benchmarks.real3d [--motion PATH] [--model assets/skeletonnet.onnx] [--lift-every 5]
[--lift-max 36] [--min-confidence C] [--teacher heavy|full] [--raw-calibration]``: about 6 min on the
2-core CPU (beside a training job) with the caches of ``benchmarks/heldout_video.py``, 4.5 of them the
optimisation lifter (about 4 s a call here); the first run also labels the frames that benchmark skips
(under a minute).

**Data.** The 8 held-out Pose2Sim lab videos (``trainer/data/videos.yaml``, split test): two
recordings (Demo_SinglePerson, Demo_MultiPerson), each 4 synchronised views, 100 frames at 60 fps. The
pose2sim wheel (cached in ``data/packages/pip``) ships one calibration for both demos,
``Pose2Sim/Demo_*/calibration/Calib.qca.txt`` (byte-identical in each demo): Qualisys QTM's XML
export, not a Calib*.toml. Per camera: ``intrinsic`` focal lengths and principal point in sensor
sub-pixels (64 per pixel: ``sensorMaxU`` / 64 + 1 = 1088, the video width), radial k1..k3 and
tangential p1, p2 (OpenCV's model); ``transform`` r11..r33, the rotation from world to Qualisys camera
axes (x right, y up, z backwards: OpenCV's camera is a half turn about x away), and x, y, z, the
camera centre in the world (millimetres; world Z up). That reading is the one of the 48 axis
conventions that fits the data (median joint reprojection 12.9 px; the next best 76 px). The man's
motion is the same take in both demos (his references at the same frame number differ by 26 mm, 56 mm
three frames apart; ``same_motion_check``): Demo_MultiPerson adds a woman, so the two recordings are
not independent samples of him.

**Calibration refinement** (default; ``--raw-calibration`` turns it off). With the file as is, the
teacher's joints reproject with a constant offset in two views (about 14 px in cam01 and 16 px in
cam03, the same over every frame and joint; the cause is not known). Each camera gets a
2D offset added to its projections, fitted on the single-person recording: a few rounds of triangulate,
average residual per camera, with the 3 offset directions that a translation of the whole scene
explains removed (gauge). The JSON reports the reprojection error before and after.

**Reference.** BlazePose (the heldout_video teacher, our 16 joints, ``mediapipe_to_joints``) on every
frame of the 8 videos (its cache, its functions), undistorted with OpenCV, triangulated per joint per
frame by linear DLT from the views where the joint's confidence is > 0.5 (at least 2). Which views go
together: for each frame every subset of 2 or more labelled views is triangulated and *agrees* when
the median over joints of the per-joint RMS reprojection error is under ``AGREE_PX``; a view's
reference is the largest agreeing subset that contains it (the lowest error on a tie). In the
multi-person recording the teacher labels the man in some views and the woman in others, so each
view's reference is the person the teacher labelled in it, when another view agrees. A joint whose
RMS reprojection error exceeds ``MAX_PX`` is triangulated again without each view in turn (3 or more
views) and dropped when none brings it under ``MAX_PX``. A frame needs ``MIN_LIMBS`` of the 12 limb
joints (shoulders, elbows, wrists, hips, knees, ankles). The reference is made of the teacher's 2D, so
contenders that start from that view's teacher 2D (BlazePose 3D, the lifter on it) share part of its
errors and are favoured.

**Contenders**, per view video, in that view's world axes (``engine.frames``: camera-aligned, Y up):

* the app end to end: ``Estimator.open`` with config.yaml (``--min-confidence`` sets
  ``tracking.min_confidence``; at 0 the tracking crop drifts off the person within a second on these
  videos and never comes back, so the default keeps config.yaml's 0.5, which acquires again), every
  frame in order, with ``model.motion`` on (``--motion``; default assets/motion.onnx) and off
  (SkeletonNet's own 3D); ``Pose.joints_3d``;
* the optimisation lifter (``trainer.wild.lifting.lift``, ``PoseBasis.default()``) on the scored frames
  k % ``--lift-every`` == 0 (at most ``--lift-max``, evenly spread), on the app's 2D (motion off,
  ``Pose.joints_2d``) and on the teacher's 2D of that view (visible: confidence > 0.5), both with the
  app's assumed camera (``frame_intrinsics(w, h, tracking.fov_deg)``);
* BlazePose's own 3D: the teacher's ``pose_world_landmarks`` (the worker stores them) through
  ``mediapipe_to_joints`` (MediaPipe's world axes are camera-like: x right, y down, z away);
* constant poses: the T-pose (``Skeleton.default().rest_joints``) and the same skeleton standing with
  its arms down (upper arms and forearms turned 90 degrees about the forward axis, hanging straight).

**Scores.** Frames: a view's frames with a reference where the app, in both runs, tracks a person and
that person is the teacher's (IoU of the 2D boxes > 0.3, as heldout_video); every contender is scored
on the same frames. PA-MPJPE (``trainer.metrics.pa_mpjpe``: rotation, translation, scale) on the
reference's valid limb joints, mean per frame, then over frames. MPJPE-cam: root-relative (hip
midpoint) in the view's camera axes, no alignment or scaling (does the body face the right way?).
Acceleration error (mm/frame^2 at 60 fps): the second difference of root-relative joints in the view's
camera axes against the reference's, over three consecutive scored frames (joints valid in all three);
the reference's own acceleration beside it says how much of it is reference noise (triples where the
reference changes views or its hips jump more than ``MAX_STEP_M`` are skipped). Orientation: the angle
of the Procrustes rotation (the body's turn relative to the camera that PA-MPJPE forgives).

Writes ``benchmarks/results/real3d.json`` and ``docs/images/real3d.png`` (4 frames: the app's 2D, and
the reference, motion model and SkeletonNet 3D seen from the person's front and right side, each
Procrustes-aligned to the reference).
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from benchmarks.heldout_video import _clean, _rel
from engine import frames as F
from engine import skeleton as S
from engine.errors import UserError
from trainer import heldout as H
from trainer.data.videos import HELDOUT, ROOT, fetch, load_splits, video_frames
from trainer.fetch import md5_of, pip_wheel

RESULTS = ROOT / "benchmarks" / "results"
PICTURE = ROOT / "docs" / "images" / "real3d.png"
WHEEL = "pose2sim==0.10.49"
CALIB_MEMBERS = ("Pose2Sim/Demo_SinglePerson/calibration/Calib.qca.txt",
                 "Pose2Sim/Demo_MultiPerson/calibration/Calib.qca.txt")
QCA_SUBPIXEL = 64.0           # Qualisys sensor units per pixel
VISIBLE = 0.5                 # teacher confidence above which a view sees a joint
AGREE_PX = 12.0               # views agree: median over joints of the per-joint RMS reprojection error
MAX_PX = 15.0                 # a reference joint with a larger RMS reprojection error is dropped
MIN_LIMBS = 8                 # limb joints a reference frame needs
SAME_PERSON_IOU = 0.3         # the app's 2D box on the teacher's person
MAX_STEP_M = 0.1              # acceleration: the reference's hip midpoint moves less than this per frame
REFINE_ROUNDS = 5
LIMBS = tuple(S.JOINT_INDEX[n] for n in ("r_shoulder", "r_elbow", "r_wrist", "l_shoulder", "l_elbow", "l_wrist",
                                         "r_hip", "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle"))
HIPS = (S.JOINT_INDEX["r_hip"], S.JOINT_INDEX["l_hip"])
#: bone lengths reported for the calibration check (start joint, end joint)
CHECK_BONES = {"upper_arm": [("r_shoulder", "r_elbow"), ("l_shoulder", "l_elbow")],
               "forearm": [("r_elbow", "r_wrist"), ("l_elbow", "l_wrist")],
               "thigh": [("r_hip", "r_knee"), ("l_hip", "l_knee")],
               "shin": [("r_knee", "r_ankle"), ("l_knee", "l_ankle")],
               "shoulder_width": [("r_shoulder", "l_shoulder")], "hip_width": [("r_hip", "l_hip")]}
CONTENDERS = ("motion", "skeletonnet", "blazepose", "tpose", "arms_down")
LIFTERS = ("lifter_ours", "lifter_teacher")
LABEL = {"motion": "motion model", "skeletonnet": "SkeletonNet 3D", "blazepose": "BlazePose 3D",
         "tpose": "T-pose", "arms_down": "arms down", "lifter_ours": "lifter (our 2D)",
         "lifter_teacher": "lifter (teacher 2D)"}
#: the picture's frames: (video, position along its scored frames)
PICTURE_PICKS = (("pose2sim_single_cam01", 0.3), ("pose2sim_single_cam04", 0.8), ("pose2sim_multi_cam03", 0.45),
                 ("pose2sim_multi_cam02", 0.6))


def say(msg: str, end: str = "\n") -> None:
    print(msg, file=sys.stderr, end=end, flush=True)


# --------------------------------------------------------------------------- calibration

@dataclass
class Camera:
    """A calibrated camera: world (metres) -> OpenCV camera ``R @ X + t`` -> pixels (K, distortion),
    plus ``offset`` pixels added to every projection (the refinement)."""
    name: str
    K: np.ndarray
    dist: np.ndarray         # k1, k2, p1, p2, k3
    R: np.ndarray
    t: np.ndarray
    size: tuple[int, int]    # width, height
    offset: np.ndarray = field(default_factory=lambda: np.zeros(2))

    @property
    def centre(self) -> np.ndarray:
        return -self.R.T @ self.t

    def to_camera(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x, np.float64) @ self.R.T + self.t

    def normalise(self, uv: np.ndarray) -> np.ndarray:
        """Pixels (N, 2) -> undistorted normalised image coordinates (N, 2)."""
        p = (np.asarray(uv, np.float64) - self.offset).reshape(-1, 1, 2)
        return cv2.undistortPoints(p, self.K, self.dist).reshape(-1, 2)

    def project(self, x: np.ndarray) -> np.ndarray:
        """World points (N, 3) -> pixels (N, 2)."""
        x = np.asarray(x, np.float64).reshape(-1, 1, 3)
        if not len(x):
            return np.zeros((0, 2))
        p, _ = cv2.projectPoints(x, cv2.Rodrigues(self.R)[0], self.t, self.K, self.dist)
        return p.reshape(-1, 2) + self.offset


def read_qca(text: str) -> dict[str, Camera]:
    """Cameras of a Qualisys ``.qca.txt`` calibration (see the module doc for the reading)."""
    root = ET.fromstring(text)
    cams = {}
    flip = np.diag([1.0, -1.0, -1.0])  # Qualisys camera axes (y up, z backwards) -> OpenCV's
    for c in root.iter("camera"):
        tr, it, fov = c.find("transform").attrib, c.find("intrinsic").attrib, c.find("fov_video").attrib
        r = np.array([[float(tr[f"r{a}{b}"]) for b in "123"] for a in "123"])
        centre = np.array([float(tr[k]) for k in "xyz"]) / 1000.0
        g = lambda k: float(it[k]) / QCA_SUBPIXEL
        k = np.array([[g("focalLengthU"), 0.0, g("centerPointU") - float(fov["left"])],
                      [0.0, g("focalLengthV"), g("centerPointV") - float(fov["top"])], [0.0, 0.0, 1.0]])
        dist = np.array([float(it[n]) for n in ("radialDistortion1", "radialDistortion2", "tangentalDistortion1",
                                                "tangentalDistortion2", "radialDistortion3")])
        rot = flip @ r
        size = (int(fov["right"]) - int(fov["left"]) + 1, int(fov["bottom"]) - int(fov["top"]) + 1)
        cams[c.attrib["serial"]] = Camera(c.attrib["serial"], k, dist, rot, -rot @ centre, size)
    return cams


def load_calibration() -> tuple[dict[str, Camera], dict]:
    wheel = pip_wheel(WHEEL)
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        found = [m for m in CALIB_MEMBERS if m in names]
        if not found:
            raise UserError(f"{wheel.name} has no calibration ({' or '.join(CALIB_MEMBERS)}): a 3D reference is "
                            "not possible (the contenders' mutual agreement is no substitute)")
        texts = {m: z.read(m) for m in found}
    md5 = {m: md5_of(t) for m, t in texts.items()}
    if len(set(md5.values())) > 1:
        raise UserError(f"the demos' calibration files differ ({md5}); this benchmark expects one")
    return read_qca(texts[found[0]].decode("ascii")), {"wheel": wheel.name, "files": found, "md5": md5[found[0]],
                                                        "format": "Qualisys QTM .qca.txt (XML)"}


# --------------------------------------------------------------------------- triangulation

def triangulate(cams: list[Camera], normed: np.ndarray, uv: np.ndarray, mask: np.ndarray):
    """Linear DLT per point. normed, uv: (V, N, 2) undistorted normalised coordinates and raw pixels;
    mask (V, N) the views to use. Returns X (N, 3), per-view pixel residuals (V, N) (projection minus
    observation) and the RMS over the used views (N,) (inf with fewer than 2 views or behind a camera)."""
    v_, n = mask.shape
    a = np.zeros((n, 2 * v_, 4))
    for v, cam in enumerate(cams):
        p = np.hstack([cam.R, cam.t[:, None]])
        m = mask[v, :, None].astype(np.float64)
        a[:, 2 * v] = (normed[v, :, :1] * p[2] - p[0]) * m
        a[:, 2 * v + 1] = (normed[v, :, 1:] * p[2] - p[1]) * m
    _, _, vt = np.linalg.svd(a)
    h = vt[:, -1]
    x = h[:, :3] / np.where(np.abs(h[:, 3:]) > 1e-12, h[:, 3:], 1e-12)
    res = np.stack([cam.project(x) - uv[v] for v, cam in enumerate(cams)])
    d = np.linalg.norm(res, axis=-1)
    front = np.stack([cam.to_camera(x)[:, 2] > 0 for cam in cams])
    cnt = mask.sum(0)
    rms = np.sqrt((d ** 2 * mask).sum(0) / np.maximum(cnt, 1))
    rms[(cnt < 2) | ((~front) & mask).any(0)] = np.inf
    return x, d, rms


@dataclass
class Labels:
    """The teacher on one video: per frame our 16 joints (pixels), confidences, world landmarks (33, 3)."""
    j2: dict[int, np.ndarray]
    conf: dict[int, np.ndarray]
    world: dict[int, np.ndarray | None]


class Recording:
    """The 4 views of one recording with their teacher labels and cameras."""

    def __init__(self, name: str, videos: dict[str, str], cams: dict[str, Camera], labels: dict[str, Labels]):
        self.name = name
        self.videos = videos                    # camera name -> video name
        self.cam_names = sorted(videos)
        self.cams = [cams[c] for c in self.cam_names]
        self.labels = [labels[videos[c]] for c in self.cam_names]
        self.frames = sorted(set().union(*[set(lab.j2) for lab in self.labels]))

    def observations(self, k: int, views, shift: dict[int, int] | None = None):
        """uv (V, 16, 2), mask (V, 16) for frame k and the view indices ``views`` (others masked)."""
        v_ = len(self.cams)
        uv, mask = np.zeros((v_, S.NUM_JOINTS, 2)), np.zeros((v_, S.NUM_JOINTS), bool)
        for v in views:
            kk = k + (shift or {}).get(v, 0)
            lab = self.labels[v]
            if kk in lab.j2:
                uv[v], mask[v] = lab.j2[kk], lab.conf[kk] > VISIBLE
        return uv, mask

    def normed(self, uv: np.ndarray) -> np.ndarray:
        return np.stack([cam.normalise(uv[v]) for v, cam in enumerate(self.cams)])

    def labelled(self, k: int) -> list[int]:
        return [v for v, lab in enumerate(self.labels) if k in lab.j2]


def fit_offsets(rec: Recording) -> dict:
    """Per-camera 2D offsets (see the module doc), set on ``rec.cams``; the residuals before and after."""
    obs = [rec.observations(k, rec.labelled(k)) for k in rec.frames]
    obs = [(uv, m & (m.sum(0) >= 3)[None]) for uv, m in obs]

    def residuals():
        uv = np.concatenate([o[0] for o in obs], 1)
        m = np.concatenate([o[1] for o in obs], 1)
        x, d, rms = triangulate(rec.cams, rec.normed(uv), uv, m)
        ok = m & (rms < 40.0)[None]
        res = np.stack([cam.project(x) - uv[v] for v, cam in enumerate(rec.cams)])
        return x, res, ok, d

    before = None
    for _ in range(REFINE_ROUNDS):
        x, res, ok, d = residuals()
        if before is None:
            before = _residual_stats(rec, d, ok)
        step = np.stack([-(res[v][ok[v]]).mean(0) if ok[v].any() else np.zeros(2) for v in range(len(rec.cams))])
        off = np.stack([c.offset for c in rec.cams]) + step
        # gauge: offsets a translation of the whole scene would explain (numerical Jacobian at the centroid)
        c0 = np.median(x[ok.any(0)], 0)
        jac = np.concatenate([np.stack([(cam.project(c0 + e * 1e-3) - cam.project(c0))[0] / 1e-3 for e in np.eye(3)], 1)
                              for cam in rec.cams])  # (2V, 3)
        flat = off.reshape(-1)
        flat = flat - jac @ np.linalg.lstsq(jac, flat, rcond=None)[0]
        for v, cam in enumerate(rec.cams):
            cam.offset = flat.reshape(-1, 2)[v]
    _, _, ok, d = residuals()
    return {"offsets_px": {c.name: c.offset.round(2).tolist() for c in rec.cams}, "before": before,
            "after": _residual_stats(rec, d, ok),
            "doc": "fitted on the single-person recording, joints seen in 3 or more views with an RMS reprojection "
                   "under 40 px; residual = |projection - teacher| per view observation, pixels"}


def _residual_stats(rec: Recording, d: np.ndarray, ok: np.ndarray) -> dict:
    out = {"all": _q(d[ok])}
    for v, cam in enumerate(rec.cams):
        out[cam.name] = _q(d[v][ok[v]])
    return out


def _q(a: np.ndarray) -> dict:
    a = np.asarray(a, np.float64)
    if not len(a):
        return {"n": 0}
    return {"n": int(len(a)), "median": float(np.median(a)), "mean": float(a.mean()), "p90": float(np.quantile(a, 0.9))}


@dataclass
class Reference:
    joints: np.ndarray      # (16, 3) world metres, NaN where dropped
    rms: np.ndarray         # (16,) px
    views: tuple[str, ...]  # the agreeing subset
    left_out: int           # joints kept by leaving one view out


def frame_subsets(rec: Recording, k: int) -> list[tuple[tuple[int, ...], float]]:
    """Every subset of 2+ labelled views of frame k with its median per-joint RMS error (px)."""
    avail = rec.labelled(k)
    out = []
    for n in range(len(avail), 1, -1):
        for sub in itertools.combinations(avail, n):
            uv, m = rec.observations(k, sub)
            _, _, rms = triangulate(rec.cams, rec.normed(uv), uv, m)
            fin = rms[np.isfinite(rms)]
            out.append((sub, float(np.median(fin)) if len(fin) >= MIN_LIMBS else np.inf))
    return out


def reference_of(rec: Recording, k: int, sub: tuple[int, ...]) -> Reference:
    uv, m = rec.observations(k, sub)
    nm = rec.normed(uv)
    x, _, rms = triangulate(rec.cams, nm, uv, m)
    left_out = 0
    for j in np.where((rms > MAX_PX) & (m.sum(0) >= 3))[0]:
        best = (rms[j], None)
        for v in np.where(m[:, j])[0]:
            mm = m[:, j:j + 1].copy()
            mm[v] = False
            xj, _, r = triangulate(rec.cams, nm[:, j:j + 1], uv[:, j:j + 1], mm)
            if r[0] < best[0]:
                best = (r[0], xj[0])
        if best[1] is not None and best[0] <= MAX_PX:
            x[j], rms[j] = best[1], best[0]
            left_out += 1
    x[~(rms <= MAX_PX)] = np.nan
    return Reference(x, rms, tuple(rec.cam_names[v] for v in sub), left_out)


def build_references(rec: Recording) -> tuple[dict[tuple[str, int], Reference], dict]:
    """The reference of each (camera, frame) (module doc) and the recording's agreement counts."""
    refs: dict[tuple[str, int], Reference] = {}
    stats = {"frames": len(rec.frames), "frames_2plus_views": 0, "frames_all_views_agree": 0,
             "frames_some_views_agree": 0, "views_without_agreeing_partner": 0, "joints": 0, "joints_dropped": 0,
             "joints_left_one_view_out": 0}
    cache: dict[tuple[int, ...], Reference] = {}
    for k in rec.frames:
        avail = rec.labelled(k)
        if len(avail) < 2:
            continue
        stats["frames_2plus_views"] += 1
        subs = [(s, e) for s, e in frame_subsets(rec, k) if e < AGREE_PX]
        if subs:
            stats["frames_some_views_agree"] += 1
        if subs and len(subs[0][0]) == len(avail):
            stats["frames_all_views_agree"] += 1
        cache.clear()
        for v in avail:
            mine = [(s, e) for s, e in subs if v in s]
            if not mine:
                stats["views_without_agreeing_partner"] += 1
                continue
            sub = min(mine, key=lambda se: (-len(se[0]), se[1]))[0]
            if sub not in cache:
                ref = reference_of(rec, k, sub)
                cache[sub] = ref
                m = rec.observations(k, sub)[1].sum(0) >= 2
                stats["joints"] += int(m.sum())
                stats["joints_dropped"] += int((m & np.isnan(ref.joints[:, 0])).sum())
                stats["joints_left_one_view_out"] += ref.left_out
            ref = cache[sub]
            if np.isfinite(ref.joints[list(LIMBS), 0]).sum() >= MIN_LIMBS:
                refs[(rec.cam_names[v], k)] = ref
    return refs, stats


def sync_check(rec: Recording, shifts=(-2, -1, 0, 1, 2)) -> dict:
    """Median per-joint RMS reprojection error (all views, 3+ seeing the joint) with one camera's frames
    shifted by each of ``shifts`` (the others fixed)."""
    out = {}
    for v, name in enumerate(rec.cam_names):
        row = {}
        for s in shifts:
            errs = []
            for k in rec.frames[2:-2]:
                uv, m = rec.observations(k, range(len(rec.cams)), {v: s})
                m &= (m.sum(0) >= 3)[None]
                _, _, rms = triangulate(rec.cams, rec.normed(uv), uv, m)
                errs.append(rms[np.isfinite(rms)])
            row[str(s)] = float(np.median(np.concatenate(errs)))
        out[name] = row
    return out


def bone_check(refs: dict[tuple[str, int], Reference]) -> dict:
    """Bone lengths (m) of the distinct references, per person (2-means on the pelvis when the two
    centres lie more than 0.8 m apart)."""
    seen, js = set(), []
    for (_, k), r in sorted(refs.items(), key=lambda kv: kv[0][1]):
        key = (k, r.views)
        if key not in seen:
            seen.add(key)
            js.append(r.joints)
    if not js:
        return {}
    js = np.stack(js)
    root = np.nanmean(js[:, list(HIPS)], 1)
    ok = np.isfinite(root[:, 0])
    people = np.zeros(len(js), int)
    pts = root[ok, :2]
    if len(pts) > 4:
        c = pts[[np.argmin(pts[:, 0]), np.argmax(pts[:, 0])]]
        for _ in range(10):
            lab = np.argmin(((pts[:, None] - c[None]) ** 2).sum(-1), 1)
            c = np.stack([pts[lab == i].mean(0) if (lab == i).any() else c[i] for i in range(2)])
        if np.linalg.norm(c[0] - c[1]) > 0.8:
            people[ok] = lab
    out = {}
    for p in sorted(set(people)):
        sel = js[people == p]
        pelvis = np.nanmedian(np.nanmean(sel[:, list(HIPS)], 1), 0)
        row = {"references": int(len(sel)), "pelvis_xy_m": pelvis[:2].tolist()}
        for name, pairs in CHECK_BONES.items():
            ls = np.concatenate([np.linalg.norm(sel[:, S.JOINT_INDEX[a]] - sel[:, S.JOINT_INDEX[b]], axis=-1)
                                 for a, b in pairs])
            ls = ls[np.isfinite(ls)]
            row[name] = {"mean": float(ls.mean()), "std": float(ls.std()), "n": int(len(ls))} if len(ls) else None
        out[f"person_{p}"] = row
    return out


# --------------------------------------------------------------------------- contenders

def arms_down_pose() -> np.ndarray:
    """The default skeleton standing with its arms hanging straight down (16, 3), world axes."""
    from engine import rotations as R

    rot = np.broadcast_to(np.eye(3), (S.NUM_BONES, 3, 3)).copy()
    for side, sign in (("r", 1.0), ("l", -1.0)):  # the right arm points -X: +90 degrees about Z turns it down
        for bone in ("upper_arm", "forearm"):
            rot[S.BONE_INDEX[f"{side}_{bone}"]] = R.axis_angle_to_matrix(np.array([0.0, 0.0, sign * np.pi / 2]))
    return S.Skeleton.default().forward_kinematics(rot)


def run_app(cfg, path: Path, fps: float, bar) -> tuple[list[dict], float]:
    """The estimator over every frame of a video: per frame detected, joints_3d (world), joints_2d; and
    the field of view it assumes."""
    from engine.estimator import Estimator

    # the person detector on one thread, as heldout_video
    est = Estimator.open(cfg.engine.replaced({"model.detector_threads": 1}), log=lambda *_: None)
    out = []
    for k, frame in video_frames(path):
        pose = est(frame, k / fps)
        out.append({"detected": bool(pose.detected and pose.state == "tracking"),
                    "j3": np.array(pose.joints_3d, np.float64), "j2": np.array(pose.joints_2d, np.float64)})
        bar.update(1)
    est.close()
    return out, float(est.settings.tracking.fov_deg)


def umeyama(pred: np.ndarray, gt: np.ndarray):
    """Similarity (s, R, t) with s R pred + t ~ gt in least squares, points (N, 3)."""
    mp, mg = pred.mean(0), gt.mean(0)
    x, y = pred - mp, gt - mg
    u, sv, vt = np.linalg.svd(y.T @ x)
    d = np.sign(np.linalg.det(u @ vt))
    fix = np.array([1.0, 1.0, d])
    rot = u @ (fix[:, None] * vt)
    s = (sv * fix).sum() / max((x ** 2).sum(), 1e-12)
    return s, rot, mg - s * rot @ mp


def root_relative(j: np.ndarray) -> np.ndarray:
    return j - j[list(HIPS)].mean(0)


# --------------------------------------------------------------------------- the run

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.real3d", description=__doc__.splitlines()[0])
    ap.add_argument("--motion", default="assets/motion.onnx",
                    help="the motion model (default assets/motion.onnx)")
    ap.add_argument("--model", default=str(ROOT / "assets" / "skeletonnet.onnx"))
    ap.add_argument("--lift-every", type=int, default=5,
                    help="the optimisation lifter on frames k %% K == 0 (default 5)")
    ap.add_argument("--lift-max", type=int, default=36,
                    help="at most this many of those frames, evenly spread (default 36: the lifter takes about 5 s a "
                         "frame here on the app's and the teacher's 2D each)")
    ap.add_argument("--min-confidence", type=float, default=None,
                    help="the app's tracking.min_confidence (default config.yaml's; 0 keeps tracking a crop that has "
                         "drifted off the person, and it never acquires again)")
    ap.add_argument("--teacher", choices=sorted(H.TEACHERS), default="heavy")
    ap.add_argument("--raw-calibration", action="store_true", help="no per-camera offset refinement")
    ap.add_argument("--json", default=str(RESULTS / "real3d.json"))
    ap.add_argument("--picture", default=str(PICTURE))
    args = ap.parse_args(argv)
    try:
        return run(args)
    except UserError as e:
        say(f"\nreal3d: {e}")
        return 2


def _motion_path(arg: str) -> Path:
    p = Path(arg)
    p = p if p.is_absolute() else ROOT / p
    if p.exists():
        return p
    raise UserError(f"{p}: motion model not found")


def run(args) -> int:
    from tqdm import tqdm

    t_start = time.perf_counter()
    if args.lift_every < 1 or args.lift_max < 1:
        raise UserError(f"--lift-every {args.lift_every} / --lift-max {args.lift_max}: must be 1 or more")
    model = Path(args.model)
    if not model.exists():
        raise UserError(f"{model}: model not found")
    motion_path = _motion_path(args.motion)
    say(f"real3d: motion model {_rel(motion_path)}")
    cams, calib_info = load_calibration()

    splits = load_splits()
    tests = [v.name for v in splits.of_split("test") if v.name.startswith("pose2sim_")]
    paths, missing = fetch(splits, tests)
    if missing:
        raise UserError("a test video is missing: " + "; ".join(f"{n}: {w}" for n, w in missing.items()))
    groups: dict[str, dict[str, str]] = {}
    for n in tests:  # pose2sim_<recording>_<camera>
        _, rec_name, cam = n.split("_", 2)
        if cam not in cams:
            raise UserError(f"{n}: no camera {cam} in the calibration ({', '.join(cams)})")
        groups.setdefault(rec_name, {})[cam] = n
    info = {n: H.video_info(paths[n]) for n in tests}

    # the teacher on every frame (the held-out cache and functions, trainer.heldout)
    from trainer.wild.teacher import ensure_heavy

    teacher_kind = args.teacher
    py = H.teacher_python()
    why = ensure_heavy(py) if teacher_kind == "heavy" else None
    if why:
        say(f"real3d: BlazePose heavy not available ({why}); using the full model")
        teacher_kind = "full"
    jpegs = {n: H.write_jpegs(n, paths[n], list(range(info[n][0]))) for n in tests}
    raw = H.run_teacher([p for n in tests for p in jpegs[n].values()], HELDOUT / f"teacher_{teacher_kind}.json",
                        H.TEACHERS[teacher_kind])
    from trainer.wild.teacher import mediapipe_to_joints, teacher_keypoints

    labels: dict[str, Labels] = {}
    for n in tests:
        lab = Labels({}, {}, {})
        for k, p in jpegs[n].items():
            entry = raw.get(str(p.resolve()))
            kp = teacher_keypoints(entry)
            if kp is None:
                continue
            lab.j2[k], lab.conf[k] = kp
            lab.world[k] = np.asarray(entry["world"], np.float64) if entry.get("world") else None
        labels[n] = lab
    for n in tests:  # the calibration's image size against the video's
        cam = cams[n.rsplit("_", 1)[1]]
        if (info[n][2], info[n][3]) != cam.size:
            say(f"real3d: {n} is {info[n][2]}x{info[n][3]}, its calibration {cam.size[0]}x{cam.size[1]} "
                "(used as is, pixel (0, 0) shared)")

    # calibration check and refinement, references
    recs = {r: Recording(r, g, cams, labels) for r, g in sorted(groups.items(), reverse=True)}  # single first
    fit_on = "single" if "single" in recs else next(iter(recs))
    calib = {**calib_info, "convention": "world -> OpenCV camera: diag(1, -1, -1) @ [r11..r33]; centre (x, y, z) mm",
             "cameras": {c.name: {"focal_px": [float(c.K[0, 0]), float(c.K[1, 1])], "principal_px": c.K[:2, 2].tolist(),
                                  "distortion_k1k2p1p2k3": c.dist.tolist(), "centre_m": c.centre.tolist(),
                                  "image": list(c.size)} for c in cams.values()}}
    if args.raw_calibration:
        calib["refinement"] = None
    else:
        calib["refinement"] = fit_offsets(recs[fit_on])  # Camera objects are shared by both recordings
        calib["refinement"]["fitted_on"] = fit_on
    refs: dict[str, Reference] = {}
    ref_stats = {}
    for r, rec in recs.items():
        rr, st = build_references(rec)
        for (cam, k), ref in rr.items():
            refs[(rec.videos[cam], k)] = ref
        st["reference_frames_per_view"] = {rec.videos[c]: sum(1 for (cc, _) in rr if cc == c) for c in rec.cam_names}
        rms = np.concatenate([x.rms[np.isfinite(x.joints[:, 0])] for x in {id(x): x for x in rr.values()}.values()]) \
            if rr else np.zeros(0)
        st["reprojection_px_kept_joints"] = _q(rms)
        st["bones_m"] = bone_check(rr)
        ref_stats[r] = st
    calib["sync_check"] = {"recording": fit_on, "doc": "median per-joint RMS reprojection (px) with one camera's "
                           "frames shifted by N frames", **sync_check(recs[fit_on])}
    same = _same_motion(recs, refs)
    t_ref = time.perf_counter() - t_start
    say(f"real3d: references built ({t_ref:.0f} s)")

    # the app, motion on and off
    from app.config import load_config

    base = {"model.path": str(model.resolve()), "model.threads": 1, "model.backend": "onnxruntime"}
    if args.min_confidence is not None:
        base["tracking.min_confidence"] = args.min_confidence
    cfg_on = load_config(ROOT / "config.yaml", {**base, "model.motion": True, "model.motion_path": str(motion_path)})
    cfg_off = load_config(ROOT / "config.yaml", {**base, "model.motion": False})
    app: dict[str, dict[str, list[dict]]] = {}
    t_app = time.perf_counter()
    total = 2 * sum(info[n][0] for n in tests)
    with tqdm(total=total, desc="app (motion on, off)", unit="frame", mininterval=2) as bar:
        for n in tests:
            on, _ = run_app(cfg_on, paths[n], info[n][1], bar)
            off, fov = run_app(cfg_off, paths[n], info[n][1], bar)
            app[n] = {"motion": on, "skeletonnet": off}
    t_app = time.perf_counter() - t_app

    # scored frames and every contender's joints in the view's world axes
    from engine.preprocess import frame_intrinsics
    from trainer.heldout import bbox as _bbox
    from trainer.heldout import iou as _iou

    tpose, arms = S.Skeleton.default().rest_joints, arms_down_pose()
    per_view: dict[str, dict] = {}
    for n in tests:
        cam = cams[n.rsplit("_", 1)[1]]
        lab = labels[n]
        rows = {}
        excluded = {"nobody": 0, "other_person": 0}
        for k in sorted(k for (vn, k) in refs if vn == n):
            on, off = app[n]["motion"][k], app[n]["skeletonnet"][k]
            if not (on["detected"] and off["detected"]):
                excluded["nobody"] += 1
                continue
            tb = _bbox(lab.j2[k][lab.conf[k] > VISIBLE])
            if min(_iou(_bbox(on["j2"]), tb), _iou(_bbox(off["j2"]), tb)) <= SAME_PERSON_IOU:
                excluded["other_person"] += 1
                continue
            ref = refs[(n, k)]
            w = lab.world.get(k)
            rows[k] = {"reference": F.camera_to_world(cam.to_camera(ref.joints)), "ref_views": ref.views,
                       "motion": on["j3"],
                       "skeletonnet": off["j3"], "tpose": tpose, "arms_down": arms, "j2_app": off["j2"],
                       "blazepose": None if w is None else F.camera_to_world(mediapipe_to_joints(w)[0])}
        per_view[n] = {"rows": rows, "excluded": excluded, "reference_frames": sum(1 for (vn, _) in refs if vn == n)}

    # the optimisation lifter on every K-th frame
    from trainer.wild.lifting import PoseBasis, lift

    todo = [(n, k) for n in tests for k in sorted(per_view[n]["rows"]) if k % args.lift_every == 0]
    if len(todo) > args.lift_max:
        todo = [todo[i] for i in sorted(set(np.linspace(0, len(todo) - 1, args.lift_max).round().astype(int)))]
    t_lift = time.perf_counter()
    basis = PoseBasis.default()
    for n, k in tqdm(todo, desc="optimisation lifter (our 2D, teacher 2D)", unit="frame", mininterval=5):
        _, _, w, h = info[n]
        kk = frame_intrinsics(w, h, fov)
        row = per_view[n]["rows"][k]
        for name, j2, vis in (("lifter_ours", row["j2_app"], None),
                              ("lifter_teacher", labels[n].j2[k], (labels[n].conf[k] > VISIBLE).astype(float))):
            j, _ = lift(j2, basis, vis, focal=float(kk[0, 0]), centre=kk[:2, 2])
            row[name] = F.camera_to_world(j)
    t_lift = time.perf_counter() - t_lift

    scores = score_all(tests, per_view, groups)
    wall = time.perf_counter() - t_start
    command = "python -m benchmarks.real3d" + \
        (f" --motion {args.motion}" if args.motion != "assets/motion.onnx" else "") + \
        (f" --model {args.model}" if model.resolve() != (ROOT / "assets" / "skeletonnet.onnx") else "") + \
        (f" --lift-every {args.lift_every}" if args.lift_every != 5 else "") + \
        (f" --lift-max {args.lift_max}" if args.lift_max != 36 else "") + \
        (f" --min-confidence {args.min_confidence:g}" if args.min_confidence is not None else "") + \
        (" --teacher full" if args.teacher == "full" else "") + (" --raw-calibration" if args.raw_calibration else "")
    result = {
        "doc": __doc__.split("\n\n", 1)[1].strip(),
        "command": command, "wall_s": round(wall, 1), "references_s": round(t_ref, 1), "app_s": round(t_app, 1),
        "lifter_s": round(t_lift, 1), "model": _rel(model), "motion_model": _rel(motion_path),
        "teacher": f"BlazePose GHUM {teacher_kind} (heldout_video's teacher, every frame)",
        "fov_deg": fov, "lift_every": args.lift_every, "lift_max": args.lift_max, "lifter_frames": len(todo),
        "min_confidence": cfg_on.tracking.min_confidence,
        "thresholds": {"visible": VISIBLE, "agree_px": AGREE_PX, "max_joint_px": MAX_PX, "min_limb_joints": MIN_LIMBS,
                       "same_person_iou": SAME_PERSON_IOU},
        "limb_joints": [S.JOINT_NAMES[j] for j in LIMBS],
        "arms_down": "Skeleton.default() with the upper arms and forearms turned 90 degrees about the forward (Z) "
                     "axis: arms hanging straight down beside the body",
        "calibration": calib, "references": ref_stats, "same_motion_check": same, **scores,
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(_clean(result), indent=1) + "\n")
    print(format_report(result))
    wrote = [_rel(Path(args.json))]
    if args.picture:
        if draw_picture(per_view, refs, cams, paths, Path(args.picture)):
            wrote.append(_rel(Path(args.picture)))
    print(f"\nwrote {', '.join(wrote)}; {wall:.0f} s")
    return 0


def _same_motion(recs: dict[str, Recording], refs: dict) -> dict | None:
    """Are the recordings the same take of one person? The distance (mm, world, no alignment) between the
    single-person reference and a multi-person view's reference at the same frame number, where their
    pelvises lie within 0.3 m."""
    if not {"single", "multi"} <= set(recs):
        return None
    d = []
    for c in recs["multi"].cam_names:
        for (vn, k), r in refs.items():
            if vn != recs["multi"].videos[c]:
                continue
            s = refs.get((recs["single"].videos[c], k)) or next(
                (refs[(recs["single"].videos[cc], k)] for cc in recs["single"].cam_names
                 if (recs["single"].videos[cc], k) in refs), None)
            if s is None:
                continue
            pa, pb = np.nanmean(r.joints[list(HIPS)], 0), np.nanmean(s.joints[list(HIPS)], 0)
            if np.linalg.norm(pa - pb) < 0.3:
                e = np.linalg.norm(r.joints - s.joints, axis=-1)
                d.append(float(np.nanmean(e)) * 1000)
    return {"doc": "mean joint distance (mm, calibration world, no alignment) between a multi-person view's "
                   "reference and the single-person reference at the same frame number, where the pelvises lie "
                   "within 0.3 m (the same man)", **_q(np.array(d))}


# --------------------------------------------------------------------------- scoring

def _pa(pred: np.ndarray, ref: np.ndarray) -> float:
    from trainer import metrics as M

    valid = [j for j in LIMBS if np.isfinite(ref[j, 0])]
    return float(M.pa_mpjpe(root_relative(pred)[None, valid], (ref - np.nanmean(ref[list(HIPS)], 0))[None, valid])[0])


def _orient(pred: np.ndarray, ref: np.ndarray) -> float:
    """Degrees of the Procrustes rotation between prediction and reference (both in the view's axes)."""
    valid = [j for j in LIMBS if np.isfinite(ref[j, 0])]
    _, rot, _ = umeyama(root_relative(pred)[valid], (ref - np.nanmean(ref[list(HIPS)], 0))[valid])
    return float(np.degrees(np.arccos(np.clip((np.trace(rot) - 1) / 2, -1.0, 1.0))))


def _cam(pred: np.ndarray, ref: np.ndarray) -> float | None:
    if not np.isfinite(ref[list(HIPS), 0]).all():
        return None
    valid = [j for j in LIMBS if np.isfinite(ref[j, 0])]
    return float(np.linalg.norm(root_relative(pred)[valid] - root_relative(ref)[valid], axis=-1).mean() * 1000)


def _accel(rows: dict[int, dict], key: str) -> tuple[list[float], list[float]]:
    """Per triple of consecutive frames: the acceleration error (mm/frame^2) of ``key`` against the
    reference, and the reference's own acceleration magnitude."""
    err, own = [], []
    for k in rows:
        if k - 1 not in rows or k + 1 not in rows or any(rows[i].get(key) is None for i in (k - 1, k, k + 1)):
            continue
        refs = [rows[i]["reference"] for i in (k - 1, k, k + 1)]
        if not all(np.isfinite(r[list(HIPS), 0]).all() for r in refs):
            continue
        roots = [r[list(HIPS)].mean(0) for r in refs]
        if len({rows[i]["ref_views"] for i in (k - 1, k, k + 1)}) > 1 or \
                max(np.linalg.norm(roots[1] - roots[0]), np.linalg.norm(roots[2] - roots[1])) > MAX_STEP_M:
            continue  # the reference changes views or person in between
        valid = [j for j in LIMBS if all(np.isfinite(r[j, 0]) for r in refs)]
        if not valid:
            continue
        a_ref = sum(c * root_relative(r)[valid] for c, r in zip((1, -2, 1), refs))
        a_p = sum(c * root_relative(rows[i][key])[valid] for c, i in zip((1, -2, 1), (k - 1, k, k + 1)))
        err.append(float(np.linalg.norm(a_p - a_ref, axis=-1).mean() * 1000))
        own.append(float(np.linalg.norm(a_ref, axis=-1).mean() * 1000))
    return err, own


def score_all(tests: list[str], per_view: dict, groups: dict) -> dict:
    """PA-MPJPE and MPJPE-cam per contender (all scored frames; the lifter's frames separately), acceleration
    errors; per view, per recording and overall (means over frames)."""
    frame_scores: dict[str, list[dict]] = {}
    for n in tests:
        out = []
        for k, row in per_view[n]["rows"].items():
            s = {"frame": k, "pa": {}, "cam": {}, "rot": {}}
            for c in CONTENDERS + LIFTERS:
                if row.get(c) is not None:
                    s["pa"][c] = _pa(row[c], row["reference"])
                    s["rot"][c] = _orient(row[c], row["reference"])
                    s["cam"][c] = _cam(row[c], row["reference"])
            s["lifted"] = "lifter_ours" in row
            out.append(s)
        frame_scores[n] = out

    def summary(names: list[str]) -> dict:
        fs = [s for n in names for s in frame_scores[n]]
        lifted = [s for s in fs if s["lifted"]]
        row = {"frames": len(fs), "lifter_frames": len(lifted), "pa_mpjpe": {}, "mpjpe_cam": {},
               "pa_mpjpe_lifter_frames": {}, "orientation_deg_median": {}}
        for c in CONTENDERS:
            v = [s["pa"][c] for s in fs if c in s["pa"]]
            row["pa_mpjpe"][c] = float(np.mean(v)) if v else None
            row["pa_mpjpe"][f"{c}_frames"] = len(v)
            w = [s["cam"][c] for s in fs if s["cam"].get(c) is not None]
            row["mpjpe_cam"][c] = float(np.mean(w)) if w else None
        for c in CONTENDERS + LIFTERS:
            v = [s["pa"][c] for s in lifted if c in s["pa"]]
            row["pa_mpjpe_lifter_frames"][c] = float(np.mean(v)) if v else None
            w = [s["cam"][c] for s in lifted if s["cam"].get(c) is not None]
            row["mpjpe_cam"][c + "_lifter_frames" if c in CONTENDERS else c] = float(np.mean(w)) if w else None
            o = [s["rot"][c] for s in (fs if c in CONTENDERS else lifted) if c in s["rot"]]
            row["orientation_deg_median"][c] = float(np.median(o)) if o else None
        acc = {}
        for c in ("motion", "skeletonnet", "blazepose"):
            e, own = [], []
            for n in names:
                a, b = _accel(per_view[n]["rows"], c)
                e += a
                own += b
            acc[c] = float(np.mean(e)) if e else None
            acc["triples"] = len(e) if c == "motion" else acc.get("triples")
            acc["reference_own"] = float(np.mean(own)) if own else None
        row["accel_error"] = acc
        row["excluded"] = {k: sum(per_view[n]["excluded"][k] for n in names) for k in ("nobody", "other_person")}
        row["reference_frames"] = sum(per_view[n]["reference_frames"] for n in names)
        return row

    views = {n: summary([n]) for n in tests}
    recordings = {r: summary(sorted(g.values())) for r, g in groups.items()}
    return {"views": views, "recordings": recordings, "overall": summary(tests),
            "per_frame": {n: [{"frame": s["frame"], "pa_mpjpe": s["pa"]} for s in frame_scores[n]] for n in tests}}


# --------------------------------------------------------------------------- report

def _f(x, d=1):
    return "-" if x is None else f"{x:.{d}f}"


def format_report(res: dict) -> str:
    lines = [f"3D on real held-out video (Pose2Sim lab, 4-view triangulation of BlazePose): PA-MPJPE mm, 12 limb "
             f"joints; motion model {res['motion_model']}, app tracking.min_confidence {res['min_confidence']:g}", "",
             "| views | frames | motion model | SkeletonNet 3D | BlazePose 3D | T-pose | arms down | accel motion / "
             "SkeletonNet / BlazePose / reference's own (mm/f^2) |",
             "|---|---|---|---|---|---|---|---|"]
    rows = [*res["views"].items(), *[(f"**{r}**", v) for r, v in res["recordings"].items()],
            ("**overall**", res["overall"])]
    for name, r in rows:
        p, a = r["pa_mpjpe"], r["accel_error"]
        lines.append(f"| {name.replace('pose2sim_', '')} | {r['frames']} of {r['reference_frames']} | "
                     f"{_f(p['motion'])} | {_f(p['skeletonnet'])} | {_f(p['blazepose'])} | {_f(p['tpose'])} | "
                     f"{_f(p['arms_down'])} | "
                     f"{_f(a['motion'])} / {_f(a['skeletonnet'])} / {_f(a['blazepose'])} / {_f(a['reference_own'])} "
                     f"({a['triples']} triples) |")
    lines += ["", f"on the lifter's frames (k % {res['lift_every']} == 0): PA-MPJPE mm", "",
              "| views | frames | lifter (our 2D) | lifter (teacher 2D) | motion model | SkeletonNet 3D | BlazePose 3D "
              "| T-pose |",
              "|---|---|---|---|---|---|---|---|"]
    for name, r in rows[-3:]:
        p = r["pa_mpjpe_lifter_frames"]
        lines.append(f"| {name} | {r['lifter_frames']} | {_f(p['lifter_ours'])} | {_f(p['lifter_teacher'])} | "
                     f"{_f(p['motion'])} | {_f(p['skeletonnet'])} | {_f(p['blazepose'])} | {_f(p['tpose'])} |")
    o, rot = res["overall"]["mpjpe_cam"], res["overall"]["orientation_deg_median"]
    lines += ["", "overall, MPJPE-cam mm (root-relative, camera axes, no alignment) / median turn of the Procrustes "
              "alignment (degrees): " + ", ".join(f"{LABEL[c]} {_f(o.get(c))} / {_f(rot.get(c), 0)}"
                                                  for c in ("motion", "skeletonnet", "blazepose") + LIFTERS) +
              f"; T-pose {_f(o.get('tpose'))}, arms down {_f(o.get('arms_down'))} (MPJPE-cam)"]
    cal = res["calibration"]
    ref = cal.get("refinement")
    if ref:
        b, a = ref["before"], ref["after"]
        lines.append(f"calibration: view reprojection median {b['all']['median']:.1f} px as shipped, "
                     f"{a['all']['median']:.1f} px with the per-camera offsets " +
                     ", ".join(f"{c} {v}" for c, v in ref["offsets_px"].items()))
    for r, st in res["references"].items():
        q = st["reprojection_px_kept_joints"]
        bones = "; ".join(f"{p}: " + ", ".join(f"{k} {v['mean']:.3f}+-{v['std']:.3f}" for k, v in row.items()
                                                if isinstance(v, dict) and "mean" in v)
                          for p, row in st["bones_m"].items())
        lines.append(f"{r}: {st['frames_2plus_views']} frames with 2+ views, all views agree in "
                     f"{st['frames_all_views_agree']}, some in {st['frames_some_views_agree']}; joint RMS reprojection "
                     f"median {_f(q.get('median'))} px (p90 {_f(q.get('p90'))}); {st['joints_dropped']} of "
                     f"{st['joints']} joints dropped (> {MAX_PX:.0f} px), {st['joints_left_one_view_out']} kept "
                     f"without one view; bones (m): {bones}")
    sm = res.get("same_motion_check")
    if sm and sm.get("n"):
        lines.append(f"same take? multi-person vs single-person reference of the man at the same frame: median "
                     f"{sm['median']:.0f} mm over {sm['n']} view-frames")
    return "\n".join(lines)


# --------------------------------------------------------------------------- picture

_RGB = {"l": (0.0, 140 / 255, 1.0), "r": (1.0, 0.0, 0.0), "c": (0.0, 220 / 255, 0.0)}


def _bone_colour(b: int):
    name = S.BONE_NAMES[b]
    return _RGB["l"] if name.startswith("l_") else _RGB["r"] if name.startswith("r_") else _RGB["c"]


def _draw_3d(ax, pts2: np.ndarray, under: np.ndarray | None = None) -> None:
    if under is not None:
        for s, e in S.BONES:
            if np.isfinite(under[[s, e]]).all():
                ax.plot(under[[s, e], 0], under[[s, e], 1], color=(0.75, 0.75, 0.75), lw=4, solid_capstyle="round")
    for b, (s, e) in enumerate(S.BONES):
        if np.isfinite(pts2[[s, e]]).all():
            ax.plot(pts2[[s, e], 0], pts2[[s, e], 1], color=_bone_colour(b), lw=2.2, solid_capstyle="round")
    ok = np.isfinite(pts2[:, 0])
    ax.scatter(pts2[ok, 0], pts2[ok, 1], s=6, color="k", zorder=3)


def draw_picture(per_view: dict, refs: dict, cams: dict[str, Camera], paths: dict, out: Path) -> bool:
    """4 rows: the frame with the app's 2D; reference, motion model and SkeletonNet 3D from the front and
    the right side (body frame from the reference's hips, world Z up), each aligned to the reference."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from animation.overlay import draw_skeleton
    from engine.preprocess import Box, crop

    picks = []
    for n, pos in PICTURE_PICKS:
        ks = sorted(per_view.get(n, {}).get("rows", {}))
        if ks:
            picks.append((n, ks[min(len(ks) - 1, int(pos * len(ks)))]))
    if not picks:
        return False
    fig, axes = plt.subplots(len(picks), 7, figsize=(17.5, 3.6 * len(picks)),
                             gridspec_kw={"width_ratios": [1.25] + [1] * 6})
    axes = np.atleast_2d(axes)
    for i, (n, k) in enumerate(picks):
        row = per_view[n]["rows"][k]
        ref_w = refs[(n, k)].joints  # calibration world, Z up
        frame = _frame(paths[n], k)
        j2 = row["j2_app"]
        img = draw_skeleton(frame.copy(), j2, 6)
        box = Box.around(j2, 1.3)
        axes[i, 0].imshow(cv2.cvtColor(crop(img, box, 420), cv2.COLOR_BGR2RGB))
        axes[i, 0].set_title(f"{n.replace('pose2sim_', '')} frame {k}\nthe app's 2D", fontsize=9)
        # body frame: up = world Z, left = hips' horizontal direction, forward = left x up
        left = ref_w[S.JOINT_INDEX["l_hip"]] - ref_w[S.JOINT_INDEX["r_hip"]]
        if not np.isfinite(left).all():
            left = ref_w[S.JOINT_INDEX["l_shoulder"]] - ref_w[S.JOINT_INDEX["r_shoulder"]]
        up = np.array([0.0, 0.0, 1.0])
        left = left - up * (left @ up)
        left /= max(np.linalg.norm(left), 1e-9)
        fwd = np.cross(left, up)
        root = np.nanmean(ref_w[list(HIPS)], 0)
        cam = cams[n.rsplit("_", 1)[1]]
        valid = [j for j in LIMBS if np.isfinite(ref_w[j, 0])]
        shown = {"reference": ref_w}
        for key in ("motion", "skeletonnet"):
            # the app's joints are in the view's world axes: back to camera axes, then to the calibration world
            p_world = (F.world_to_camera(row[key]) - cam.t) @ cam.R
            s, rot, t = umeyama(p_world[valid], ref_w[valid])
            shown[key] = s * p_world @ rot.T + t
        titles = {"reference": f"reference ({len(refs[(n, k)].views)} views)", "motion": "motion model",
                  "skeletonnet": "SkeletonNet 3D"}
        for c, key in enumerate(("reference", "motion", "skeletonnet")):
            pa = "" if key == "reference" else f"  PA {_pa(row[key], row['reference']):.0f} mm"
            for v, (axis, view) in enumerate(((left, "front"), (fwd, "right side"))):
                ax = axes[i, 1 + 2 * c + v]
                proj = lambda p: np.stack([(p - root) @ axis, (p - root) @ up], -1)
                _draw_3d(ax, proj(shown[key]), None if key == "reference" else proj(ref_w))
                ax.set_title(f"{titles[key]}, {view}{pa}", fontsize=8.5)
                ax.set_xlim(-1.0, 1.0)
                ax.set_ylim(-1.05, 1.0)
                ax.set_aspect("equal")
                ax.set_xticks([])
                ax.set_yticks([])
        axes[i, 0].set_xticks([])
        axes[i, 0].set_yticks([])
    fig.suptitle("Held-out Pose2Sim frames: the app's 2D; 3D from the person's front and right side (orthographic, "
                 "1 m per half panel; world vertical up).\nRed: right, blue: left, green: centre; grey under the app's "
                 "skeletons: the reference (multi-view triangulation of BlazePose). Each skeleton similarity-aligned "
                 "(Procrustes, 12 limb joints) to the reference.", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.955), h_pad=2.0)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=80)
    plt.close(fig)
    return True


def _frame(path: Path, k: int) -> np.ndarray:
    for kk, f in video_frames(path):
        if kk == k:
            return f
    raise UserError(f"{path}: no frame {k}")


if __name__ == "__main__":
    sys.exit(main())
