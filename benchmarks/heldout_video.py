"""2D against the MediaPipe teacher on videos no training list uses (issue 24, point 1), and the network's
2D error statistics for a noise model.

``python -m benchmarks.heldout_video [--every K] [--noise-every K] [--model assets/skeletonnet.onnx]
[--teacher heavy|full]``: about 3 min the first time on the 2-core CPU (fetching, teacher), 40 s with the
caches.

The teacher labels, the network's pass and the PCK scores (steps 1-4 below) are ``trainer/heldout.py``'s,
the code training chooses its checkpoints by (``video_val``); this benchmark runs them with the estimator
``mocap process`` builds and adds the noise videos' error statistics, the picture and the report.

Videos and splits: ``trainer/data/videos.yaml`` (docs/training.md, "Videos for training and for
testing"). The test videos (Pose2Sim's demo, 8 lab views) are fetched with pip into ``data/heldout/``
(git-ignored); the noise videos are the Sports2D demo's held-out frames 160-229 (pip) and OpenCV's
``vtest.avi`` (Debian ``opencv-doc``; skipped with a line when it is not installed).

1. **Teacher.** Every K-th frame of the test videos (``--every``, default 2) and of the noise segments
   (``--noise-every``, default 1) (JPEG, quality 95, ``data/heldout/frames/VIDEO/FRAME.jpg``) goes through
   ``trainer/wild/teacher_worker.py`` in ``.venv-teacher`` (``python -m trainer teacher-setup``), with
   MediaPipe's legacy pose solution switched to BlazePose GHUM **heavy** (``model_complexity=2``): its
   ``pose_landmark_heavy.tflite`` is not in the mediapipe wheel and MediaPipe would download it, so it is
   taken from the npm package ``@mediapipe/pose`` (``npm pack``; Apache-2.0; its ``full`` model is
   byte-identical to the wheel's) and put where MediaPipe looks. Without npm, or with ``--teacher full``,
   the wheel's full model (``model_complexity=1``, as ``trainer wild``) is used; the JSON says which.
   The worker's output is cached in ``data/heldout/teacher_MODEL.json`` and our 16 joints
   (``mediapipe_to_joints``) with their confidences in ``data/heldout/keypoints_MODEL.json``.
2. **Oracle crop.** The crop is ``Box.around(teacher joints with confidence > 0.5, 1.25)`` (all 16 when
   fewer than 2 are seen), the engine's tracking crop rule; the ONNX model runs through
   ``engine.backends`` with the crop's camera (``Box.camera``, 65 degrees, as the estimator).
3. **End to end.** The estimator ``mocap process`` builds (``Estimator.open``, config.yaml:
   detector, presence, One-Euro filter) runs over every frame of each test video; the frames with a
   teacher person are scored, a frame where it reports nobody counting as every joint missed.
4. **Baseline.** ``trainer.evaluate.mean_pose_2d`` of all the test crops (in crop units), placed in each
   oracle crop.

PCK@a (``trainer.metrics.pck``): a joint is hit when its error is under a x the teacher's torso
diagonal (right shoulder to left hip); only joints the teacher sees (confidence > 0.5) count; the mean
over frames. Found: the share of teacher-person frames where the app reports a person.

**Error statistics** (oracle crops; units of the crop side, x right, y down; per joint, per video and
pooled): the schema is the ``doc`` field of ``benchmarks/results/network_2d_errors.json`` (noise
videos) and of ``error_statistics`` in ``benchmarks/results/heldout_video.json`` (test videos, for
comparison only: a motion model must not train on them).

Writes ``benchmarks/results/heldout_video.json``, ``benchmarks/results/network_2d_errors.json`` and
``docs/images/heldout_video.png`` (six test frames, the teacher's skeleton and the app's).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from engine import skeleton as S
from engine.errors import UserError
from engine.preprocess import Box, crop
from trainer.data.videos import HELDOUT, ROOT, fetch, load_splits
from trainer.heldout import (
    CROP_SCALE,
    GROUPS,
    TEACHERS,
    VISIBLE,
    held_out_videos,
    network_records,
    oracle_box,
    say,
    score_group,
    score_videos,
    stack,
    teacher_labels,
)

RESULTS = ROOT / "benchmarks" / "results"
PICTURE = ROOT / "docs" / "images" / "heldout_video.png"
SWAP_MARGIN = 0.03          # crop sides: a swap is nearer the mirror joint by at least this
MISS = 0.15                 # crop sides: a gross miss is farther than this (and not a swap)
QUANTILES = (0.5, 0.75, 0.9, 0.95, 0.99)
#: the picture's frames: (video, position along its teacher frames)
PICTURE_PICKS = (("pose2sim_single_cam01", 0.3), ("pose2sim_single_cam02", 0.55), ("pose2sim_single_cam04", 0.8),
                 ("pose2sim_multi_cam01", 0.45), ("pose2sim_multi_cam03", 0.7), ("pose2sim_multi_cam04", 0.2))
DOC_STATS = (
    "2D error of the network against the MediaPipe teacher, oracle crops (Box.around(teacher joints with "
    "confidence > 0.5, 1.25)), on the frames with a teacher person (every noise_every-th frame of the noise "
    "videos, every every-th of the test videos). Units: the crop side (multiply by a "
    "crop's side in pixels for pixels); x right, y down; error = network - teacher. Per joint (our 16, MPII "
    "order), over the frames where the teacher sees it (confidence > 0.5): n = that count; "
    "swap_rate = share of the n where the mirror joint is also seen and the network's joint is nearer the "
    "teacher's mirror joint than its own by at least swap_margin (left/right confusion; null for the 4 "
    "centre joints; swap_checked = frames where the mirror is seen); miss_rate = share of the n with error "
    "norm > miss_threshold that are not swaps (gross misses); mean [dx, dy], cov [[xx, xy], [xy, yy]] and "
    "std [sx, sy] over the inliers (neither swap nor miss; inliers = their count); quantiles = the error "
    "norm's quantiles over all n, inlier_quantiles over the inliers. all_joints pools the joints of a "
    "group; frames_with_swap / frames_with_miss = share of frames with at least one; frames_body_flipped = "
    "share of frames where, over the side joints seen with their mirror (4 or more), the mirrored teacher "
    "is nearer the network by swap_margin per joint (a whole-body left/right flip), swaps_in_flipped_frames "
    "= the share of all swaps that lie in such frames. A noise model: with "
    "probability swap_rate take the mirror joint's position, with miss_rate a gross error (the quantiles "
    "above miss_threshold give its size), otherwise add N(mean, cov) x crop side.")


# --------------------------------------------------------------------------- error statistics

def error_stats(pred: np.ndarray, gt: np.ndarray, vis: np.ndarray, side: np.ndarray) -> dict:
    """The statistics of ``DOC_STATS`` for (N, 16, 2) frame-pixel predictions and teacher joints."""
    n_frames = len(gt)
    out = {"samples": int(n_frames), "joints": {}}
    if not n_frames:
        return out
    err = (pred - gt) / side[:, None, None]
    d_own = np.linalg.norm(err, axis=-1)
    gt_m = gt[:, S.JOINT_FLIP]
    d_mirror = np.linalg.norm((pred - gt_m) / side[:, None, None], axis=-1)
    v = vis > 0
    has_mirror = (np.asarray(S.JOINT_FLIP) != np.arange(S.NUM_JOINTS))[None] & v[:, S.JOINT_FLIP]
    swap = v & has_mirror & (d_mirror < d_own - SWAP_MARGIN)
    miss = v & ~swap & (d_own > MISS)
    inl = v & ~swap & ~miss
    q = lambda a: {str(x): float(np.quantile(a, x)) for x in QUANTILES} if len(a) else None
    for j, name in enumerate(S.JOINT_NAMES):
        n = int(v[:, j].sum())
        e = err[inl[:, j], j]
        mirror = S.JOINT_FLIP[j] != j
        row = {"n": n, "swap_checked": int((v & has_mirror)[:, j].sum()) if mirror else 0,
               "swap_rate": (float(swap[:, j].sum() / n) if n else None) if mirror else None,
               "miss_rate": float(miss[:, j].sum() / n) if n else None, "inliers": int(len(e)),
               "mean": e.mean(0).tolist() if len(e) else None,
               "cov": np.cov(e.T).tolist() if len(e) > 2 else None,
               "std": e.std(0, ddof=1).tolist() if len(e) > 2 else None,
               "quantiles": q(d_own[v[:, j], j]), "inlier_quantiles": q(d_own[inl[:, j], j])}
        out["joints"][name] = row
    nv = max(int(v.sum()), 1)
    e_all = err[inl]
    out["all_joints"] = {"n": int(v.sum()), "swap_rate": float(swap.sum() / nv), "miss_rate": float(miss.sum() / nv),
                         "std": e_all.std(0, ddof=1).tolist() if len(e_all) > 2 else None,
                         "quantiles": q(d_own[v]), "inlier_quantiles": q(d_own[inl])}
    out["frames_with_swap"] = float(swap.any(1).mean())
    out["frames_with_miss"] = float(miss.any(1).mean())
    # whole-body left/right flips: over the side joints seen with their mirror, the mirrored teacher
    # fits the network better than the teacher itself by SWAP_MARGIN per joint
    pair = v & has_mirror
    n_pair = pair.sum(1)
    cost_own, cost_flip = (d_own * pair).sum(1), (d_mirror * pair).sum(1)
    flipped = (n_pair >= 4) & (cost_flip < cost_own - SWAP_MARGIN * n_pair)
    out["frames_body_flipped"] = float(flipped.mean())
    out["swaps_in_flipped_frames"] = float(swap[flipped].sum() / max(int(swap.sum()), 1))
    return out


# --------------------------------------------------------------------------- the run

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.heldout_video", description=__doc__.splitlines()[0])
    ap.add_argument("--every", type=int, default=2,
                    help="test videos: teacher and scores on every K-th frame (default 2)")
    ap.add_argument("--noise-every", type=int, default=1,
                    help="noise videos: error statistics on every K-th frame (default 1: they have few teacher frames)")
    ap.add_argument("--model", default=str(ROOT / "assets" / "skeletonnet.onnx"))
    ap.add_argument("--teacher", choices=sorted(TEACHERS), default="heavy",
                    help="BlazePose heavy (from npm @mediapipe/pose; falls back to full without npm) or full")
    ap.add_argument("--splits", default=None, help="the video catalogue (default trainer/data/videos.yaml)")
    ap.add_argument("--json", default=str(RESULTS / "heldout_video.json"))
    ap.add_argument("--noise-json", default=str(RESULTS / "network_2d_errors.json"))
    ap.add_argument("--picture", default=str(PICTURE))
    ap.add_argument("--videos", choices=sorted(GROUPS), default="all",
                    help="which test videos: all (default), select (the 4 single-person views, on which training "
                         "chooses checkpoints) or report (the 4 two-person views, never used for a choice)")
    ap.add_argument("--quick", action="store_true",
                    help="test videos only: no noise videos, no error-statistics file, no picture (what training's "
                         "checkpoint choice runs)")
    args = ap.parse_args(argv)
    try:
        return run(args)
    except UserError as e:
        say(f"\nheldout_video: {e}")
        return 2


def run(args) -> int:
    t_start = time.perf_counter()
    if args.every < 1 or args.noise_every < 1:
        raise UserError(f"--every {args.every} / --noise-every {args.noise_every}: must be 1 or more")
    model = Path(args.model)
    if not model.exists():
        raise UserError(f"{model}: model not found")
    splits = load_splits(args.splits) if args.splits else load_splits()
    tests = held_out_videos(splits, args.videos)
    noise = [] if args.quick else [v.name for v in splits.of_split("noise")]
    paths, missing = fetch(splits, tests + noise)
    for name, why in missing.items():
        say(f"heldout_video: {name} skipped: {why}")
    if any(t in missing for t in tests):
        raise UserError("a test video is missing: " + "; ".join(f"{t}: {missing[t]}" for t in tests if t in missing))
    noise = [n for n in noise if n in paths]

    # teacher labels on every K-th frame of the test videos and of the noise segments (trainer.heldout)
    labels = teacher_labels(splits, paths, tests, noise, args.every, args.noise_every, args.teacher)
    teacher_kind, teacher_desc, wanted = labels.kind, labels.desc, labels.wanted

    # the network: oracle crops everywhere, the app's tracking over every frame of the test videos
    from app.config import load_config
    from engine.estimator import Estimator

    # the motion model changes the 3D only; the 2D scored here is the network's
    over = {"model.path": str(model.resolve()), "model.threads": 1, "model.detector_threads": 1,
            "model.backend": "onnxruntime", "model.motion": False}
    cfg = load_config(ROOT / "config.yaml", over)

    def app_estimator(_model):
        """The estimator mocap process builds from config.yaml, the network and the person detector on one
        thread."""
        return Estimator.open(cfg.engine, log=lambda *_: None)

    picks = {}
    for name, pos in PICTURE_PICKS:
        ks = [k for k, lab in labels.joints.get(name, {}).items() if lab is not None]
        if ks:
            picks[(name, ks[min(len(ks) - 1, int(pos * len(ks)))])] = None

    def keep(name, k, frame, rec):
        if (name, k) in picks:
            picks[(name, k)] = (frame.copy(), rec)

    recs, n_app_frames, t_net = network_records(model, labels, paths, tests, noise, app_estimator, keep)
    scores = score_videos(recs, labels, tests, args.videos)
    rows, overall, groups = scores["videos"], scores["overall"], scores["groups"]
    test_recs = [r for n in tests for r in recs[n]]

    def stats_of(names):
        per = {}
        for n in names:
            rr = recs[n]
            per[n] = error_stats(stack(rr, "oracle"), stack(rr, "teacher"),
                                 np.stack([r["conf"] > VISIBLE for r in rr]).astype(float) if rr else np.zeros((0, 16)),
                                 np.array([r["box"][2] for r in rr]))
        allr = [r for n in names for r in recs[n]]
        pooled = error_stats(stack(allr, "oracle"), stack(allr, "teacher"),
                             np.stack([r["conf"] > VISIBLE for r in allr]).astype(float) if allr else np.zeros((0, 16)),
                             np.array([r["box"][2] for r in allr]))
        return per, pooled

    test_stats, test_pooled = stats_of(tests)
    noise_stats, noise_pooled = stats_of(noise)
    # per joint PCK@0.2 (oracle), pooled over the test videos
    gt, vis = stack(test_recs, "teacher"), np.stack([r["conf"] > VISIBLE for r in test_recs]).astype(float)
    torso = np.linalg.norm(gt[:, S.JOINT_INDEX["r_shoulder"]] - gt[:, S.JOINT_INDEX["l_hip"]], axis=-1)
    hit = np.linalg.norm(stack(test_recs, "oracle") - gt, axis=-1) < 0.2 * torso[:, None]
    per_joint = {name: (float((hit[:, j] * vis[:, j]).sum() / vis[:, j].sum()) if vis[:, j].sum() else None)
                 for j, name in enumerate(S.JOINT_NAMES)}

    wall = time.perf_counter() - t_start
    command = "python -m benchmarks.heldout_video" + (f" --every {args.every}" if args.every != 2 else "") + \
        (f" --noise-every {args.noise_every}" if args.noise_every != 1 else "") + \
        (f" --model {args.model}" if Path(args.model).resolve() != (ROOT / "assets" / "skeletonnet.onnx") else "") + \
        (" --teacher full" if args.teacher == "full" else "") + \
        (f" --videos {args.videos}" if args.videos != "all" else "") + (" --quick" if args.quick else "")
    crop_rule = f"Box.around(teacher joints with confidence > {VISIBLE}, {CROP_SCALE}) (all 16 when fewer than 2)"
    common = {"command": command, "model": _rel(model), "teacher": teacher_desc, "every": args.every,
              "noise_every": args.noise_every,
              "oracle_crop": crop_rule, "visible": f"teacher confidence > {VISIBLE}"}
    result = {
        "doc": "2D against the teacher on held-out test videos (trainer/data/videos.yaml, split test). Per video "
               "and overall: teacher_frames = labelled frames (every K-th) where the teacher finds a person; "
               "oracle = the ONNX model on the oracle crop; baseline = trainer.evaluate.mean_pose_2d of all the "
               "test crops placed in each oracle crop; app = the estimator mocap process builds, run over every "
               "frame, scored on the teacher frames (nobody reported = every joint missed); app.found = share of "
               "teacher frames where the app reports a person; pck@a = trainer.metrics.pck (a x the teacher's "
               "torso diagonal), mean over frames, teacher-visible joints only; error_crop = mean 2D error of "
               "the oracle prediction in crop sides. error_statistics: as in network_2d_errors.json, on the test "
               "videos, for comparison only (not for training).",
        **common, "wall_s": round(wall, 1), "network_s": round(t_net, 1), "app_frames": n_app_frames,
        "videos": rows, "overall": overall, "groups": groups, "oracle_pck@0.2_per_joint": per_joint,
        "error_statistics": {"doc": DOC_STATS, "swap_margin": SWAP_MARGIN, "miss_threshold": MISS,
                             "videos": test_stats, "pooled": test_pooled},
    }
    noise_result = {
        "doc": DOC_STATS + " Per video also: labelled = frames given to the teacher, pck = the oracle crop's "
               "PCK against the teacher (as in heldout_video.json).",
        **common, "swap_margin": SWAP_MARGIN, "miss_threshold": MISS,
        "videos": {n: {"source": splits.videos[n].source,
                       "frames": [list(s) for s in splits.videos[n].frames_of("noise")],
                       "labelled": len(wanted[n]), "pck": score_group(recs[n], None, False), **noise_stats[n]}
                   for n in noise},
        "skipped": missing, "pooled": noise_pooled,
        "test_videos_pooled_for_comparison": "benchmarks/results/heldout_video.json error_statistics",
    }
    result["videos_group"] = args.videos
    for path, res in ((args.json, result),) + (() if args.quick else ((args.noise_json, noise_result),)):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(_clean(res), indent=1) + "\n")
    print(format_report(result, noise_result))
    wrote = [_rel(Path(args.json))] + ([] if args.quick else [_rel(Path(args.noise_json))])
    shown = [(n, k, *v) for (n, k), v in picks.items() if v is not None]
    if args.picture and shown and not args.quick:
        draw_picture(shown, Path(args.picture), teacher_kind)
        wrote.append(_rel(Path(args.picture)))
    print(f"\nwrote {', '.join(wrote)}; caches in {_rel(HELDOUT)}; {wall:.0f} s")
    return 0


def _rel(p: Path) -> str:
    p = Path(p).resolve()
    return str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else str(p)


def _clean(o):
    """JSON-ready: numpy to lists, floats rounded to 5 significant digits, NaN to null."""
    if isinstance(o, dict):
        return {str(k): _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    if isinstance(o, np.ndarray):
        return _clean(o.tolist())
    if isinstance(o, (float, np.floating)):
        return None if not np.isfinite(o) else float(f"{float(o):.5g}")
    if isinstance(o, np.integer):
        return int(o)
    return o


# --------------------------------------------------------------------------- report

def _f(x, d=3):
    return "-" if x is None else f"{x:.{d}f}"


def format_report(res: dict, noise: dict) -> str:
    lines = [f"held-out test videos: {res['model']} against {res['teacher'].split(' (')[0]}, every K-th frame "
             f"(K = {res['every']}); PCK@0.1 / PCK@0.2",
             "", "| video | teacher frames | oracle crop | constant mean pose | app (end to end) | app finds a person "
             "| of which on the teacher's person | app PCK@0.2 there |",
             "|---|---|---|---|---|---|---|---|"]
    for name, r in [*res["videos"].items(), ("overall", res["overall"])]:
        if not r.get("teacher_frames"):
            lines.append(f"| {name} | 0 | - | - | - | - | - | - |")
            continue
        o, b, a = r["oracle"], r["baseline"], r["app"]
        nm = f"**{name}**" if name == "overall" else name
        lines.append(f"| {nm} | {r['teacher_frames']} of {r['labelled']} | {_f(o['pck@0.1'])} / {_f(o['pck@0.2'])} | "
                     f"{_f(b['pck@0.1'])} / {_f(b['pck@0.2'])} | {_f(a['pck@0.1'])} / {_f(a['pck@0.2'])} | "
                     f"{a['found']:.2f} | {_f(a['on_teacher_person'], 2)} | {_f(a['pck@0.2_on_teacher_person'])} |")
    lines += ["", "network 2D error in crop sides (oracle crops; inliers: std x / y; rates over teacher-visible "
              "frames)",
              "", "| joint | noise videos: std x | std y | swap | miss | test videos: std x | std y | swap | miss |",
              "|---|---|---|---|---|---|---|---|---|"]
    tp = res["error_statistics"]["pooled"]
    npool = noise["pooled"]
    for name in S.JOINT_NAMES:
        cells = []
        for st in (npool, tp):
            j = st.get("joints", {}).get(name, {})
            sd = j.get("std") or [None, None]
            cells += [_f(sd[0]), _f(sd[1]), _f(j.get("swap_rate")), _f(j.get("miss_rate"))]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    for label, st in (("noise videos", npool), ("test videos", tp)):
        a = st.get("all_joints")
        if a:
            lines.append(f"\n{label} pooled ({st['samples']} frames): swaps {a['swap_rate']:.3f}, gross misses "
                         f"{a['miss_rate']:.3f} of joints; frames with a swap {st['frames_with_swap']:.3f}, with a "
                         f"miss {st['frames_with_miss']:.3f}; error median {a['quantiles']['0.5']:.3f}, 90 % "
                         f"{a['quantiles']['0.9']:.3f} crop sides; whole-body flips in {st['frames_body_flipped']:.3f} "
                         f"of frames ({st['swaps_in_flipped_frames']:.2f} of the swaps)")
    for n, st in noise["videos"].items():
        a = st.get("all_joints")
        if a:
            o = st["pck"]["oracle"]
            lines.append(f"  {n}: {st['samples']} of {st['labelled']} frames with a teacher person, swaps "
                         f"{a['swap_rate']:.3f}, misses {a['miss_rate']:.3f}, median {a['quantiles']['0.5']:.3f}; "
                         f"oracle PCK@0.1 / 0.2 {_f(o['pck@0.1'])} / {_f(o['pck@0.2'])}")
    return "\n".join(lines)


def draw_picture(items: list, out: Path, teacher_kind: str, tile: int = 420) -> None:
    """Each pick cropped around the teacher's person: the teacher's skeleton (white) under the app's
    (red right, blue left, green centre), with the video, frame and scores."""
    from animation.overlay import draw_skeleton
    from trainer import metrics as M

    tiles = []
    for name, k, frame, rec in items:
        tb = oracle_box(rec["teacher"], rec["conf"])
        box = Box(tb.left - 0.15 * tb.side, tb.top - 0.15 * tb.side, tb.side * 1.3)
        img = crop(frame, box, tile)
        t = box.to_crop(rec["teacher"], tile)
        for s, e in S.BONES:
            if rec["conf"][s] > VISIBLE and rec["conf"][e] > VISIBLE:
                cv2.line(img, tuple(int(round(c)) for c in t[s]), tuple(int(round(c)) for c in t[e]), (255, 255, 255),
                         7, cv2.LINE_AA)
        vis = (rec["conf"] > VISIBLE).astype(float)[None]
        if rec["found"]:
            draw_skeleton(img, box.to_crop(rec["app"], tile), 3)
            p = M.pck(rec["app"][None], rec["teacher"][None], vis)[0]
            app = f"app PCK@0.2 {p:.2f}"
        else:
            app = "app: nobody"
        po = M.pck(rec["oracle"][None], rec["teacher"][None], vis)[0]
        label = name.replace("pose2sim_", "")
        strip = np.full((52, tile, 3), 30, np.uint8)
        for y, text in ((20, f"{label} frame {k}"), (43, f"{app}; oracle crop {po:.2f}")):
            cv2.putText(strip, text, (8, y), cv2.FONT_HERSHEY_SIMPLEX, 0.58, (255, 255, 255), 1, cv2.LINE_AA)
        tiles.append(np.concatenate([strip, img], 0))
    rows = [np.concatenate(tiles[i:i + 3], 1) for i in range(0, len(tiles), 3)]
    w = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, w - r.shape[1]), (0, 0))) for r in rows]
    head = np.full((34, w, 3), 40, np.uint8)
    cv2.putText(head, f"white: teacher (BlazePose {teacher_kind}); red/blue/green: the app end to end (right/left/"
                      "centre); held-out Pose2Sim frames", (8, 23), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 1,
                cv2.LINE_AA)
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), np.concatenate([head, *rows], 0))


if __name__ == "__main__":
    sys.exit(main())
