"""MediaPipe pose teacher, run *inside* the teacher environment (``.venv-teacher``).

Standalone on purpose: MediaPipe 0.10.21 pins numpy<2 and protobuf<5, so it
cannot share the trainer's environment and imports nothing from this project.

    .venv-teacher/bin/python trainer/wild/teacher_worker.py LIST.txt OUT.json
        [--complexity 0|1|2] [--masks DIR] [--people N]

LIST.txt holds one image path per line. OUT.json gets, per image, the 33
landmarks in pixels with their visibility (or null when no person is found),
and the 33 world landmarks in metres. The JSON is rewritten every 20 images
(atomically), so a killed run keeps what it finished; a re-run skips images
already in OUT.json.

Options (trainer/wild/realframes.py uses them; without them the output is as above):

* ``--complexity``: the pose model (1 = full, the default; 2 = heavy, whose weights must have been put
  beside the full model, see benchmarks/heldout_video.py).
* ``--masks DIR``: also MediaPipe's person segmentation (``enable_segmentation``), saved as
  ``DIR/<n>.png`` (8-bit, 255 = person), n the image's position in LIST.txt; the entry's ``mask`` key
  names the file.
* ``--people N``: look for up to N people: after each person found, their region (the landmarks' box,
  widened, and the segmentation) is painted grey and the pose model runs again; the further people's
  landmarks go to the entry's ``others`` list (``[[x, y, visibility] x 33], ...``).
"""
import json
import os
import sys


def _args(argv):
    pos, opt = [], {"complexity": 1, "masks": None, "people": 1}
    it = iter(argv)
    for a in it:
        if a.startswith("--") and a[2:] in opt:
            try:
                opt[a[2:]] = next(it)
            except StopIteration:
                return None, None
        else:
            pos.append(a)
    try:
        opt["complexity"], opt["people"] = int(opt["complexity"]), max(1, int(opt["people"]))
    except ValueError:
        return None, None
    return (pos, opt) if len(pos) == 2 else (None, None)


def _blank(img, lm, mask):
    """The image with one person's region painted grey (landmarks (33, 3) pixels; mask HxW 0..1 or None)."""
    import numpy as np

    h, w = img.shape[:2]
    xy = np.asarray(lm)[:, :2]
    lo, hi = xy.min(0), xy.max(0)
    pad = 0.25 * (hi - lo).max() + 8
    x0, y0 = (np.maximum(lo - pad, 0)).astype(int)
    x1, y1 = (np.minimum(hi + pad, [w - 1, h - 1])).astype(int)
    out = img.copy()
    out[y0:y1 + 1, x0:x1 + 1] = 127
    if mask is not None:
        out[mask > 0.3] = 127
    return out


def main(argv):
    pos, opt = _args(argv)
    if pos is None:
        print("usage: teacher_worker.py LIST.txt OUT.json [--complexity 0|1|2] [--masks DIR] [--people N]",
              file=sys.stderr)
        return 2
    import cv2  # MediaPipe exists only in the teacher environment: this file stays importable elsewhere
    import mediapipe as mp

    paths = [line.strip() for line in open(pos[0]) if line.strip()]
    out = pos[1]
    masks = opt["masks"]
    if masks:
        os.makedirs(masks, exist_ok=True)
    done = {}
    if os.path.exists(out):
        try:
            with open(out) as f:
                done = json.load(f).get("images", {})
        except (OSError, ValueError):
            done = {}
    name = {0: "lite", 1: "full", 2: "heavy"}.get(opt["complexity"], str(opt["complexity"]))

    def save():
        tmp = out + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"teacher": f"mediapipe {mp.__version__} pose, model_complexity {opt['complexity']} ({name})",
                       "images": done}, f)
        os.replace(tmp, out)

    todo = [(n, p) for n, p in enumerate(paths) if p not in done]
    with mp.solutions.pose.Pose(static_image_mode=True, model_complexity=opt["complexity"],
                                enable_segmentation=bool(masks), min_detection_confidence=0.5) as pose:
        for k, (n, p) in enumerate(todo):
            img = cv2.imread(p)
            if img is None:
                done[p] = {"error": "unreadable image"}
                continue
            h, w = img.shape[:2]
            res = pose.process(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
            if res.pose_landmarks is None:
                done[p] = {"width": w, "height": h, "landmarks": None, "world": None}
            else:
                lm = res.pose_landmarks.landmark
                wl = res.pose_world_landmarks.landmark
                pts = [[q.x * w, q.y * h, q.visibility] for q in lm]
                done[p] = {"width": w, "height": h, "landmarks": pts, "world": [[q.x, q.y, q.z] for q in wl]}
                seg = res.segmentation_mask if masks else None
                if masks and seg is not None:
                    f = os.path.join(masks, f"{n}.png")
                    cv2.imwrite(f, (seg.clip(0, 1) * 255).round().astype("uint8"))
                    done[p]["mask"] = f
                if opt["people"] > 1:
                    others, cur, cur_lm, cur_seg = [], img, pts, seg
                    for _ in range(opt["people"] - 1):
                        cur = _blank(cur, cur_lm, cur_seg)
                        r2 = pose.process(cv2.cvtColor(cur, cv2.COLOR_BGR2RGB))
                        if r2.pose_landmarks is None:
                            break
                        cur_lm = [[q.x * w, q.y * h, q.visibility] for q in r2.pose_landmarks.landmark]
                        cur_seg = r2.segmentation_mask if masks else None
                        others.append(cur_lm)
                    done[p]["others"] = others
            if k % 20 == 19:
                save()
                print(f"teacher: {len(done)}/{len(paths)}", file=sys.stderr, flush=True)
    save()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
