"""MediaPipe pose teacher, run *inside* the teacher environment (``.venv-teacher``).

Standalone on purpose: MediaPipe 0.10.21 pins numpy<2 and protobuf<5, so it
cannot share the trainer's environment and imports nothing from this project.

    .venv-teacher/bin/python trainer/wild/teacher_worker.py LIST.txt OUT.json

LIST.txt holds one image path per line. OUT.json gets, per image, the 33
landmarks in pixels with their visibility (or null when no person is found),
and the 33 world landmarks in metres. The JSON is rewritten every 20 images
(atomically), so a killed run keeps what it finished; a re-run skips images
already in OUT.json.
"""
import json
import os
import sys


def main(argv):
    if len(argv) != 2:
        print("usage: teacher_worker.py LIST.txt OUT.json", file=sys.stderr)
        return 2
    import cv2  # MediaPipe exists only in the teacher environment: this file stays importable elsewhere
    import mediapipe as mp

    paths = [line.strip() for line in open(argv[0]) if line.strip()]
    out = argv[1]
    done = {}
    if os.path.exists(out):
        try:
            with open(out) as f:
                done = json.load(f).get("images", {})
        except (OSError, ValueError):
            done = {}

    def save():
        tmp = out + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"teacher": f"mediapipe {mp.__version__} pose, model_complexity 1", "images": done}, f)
        os.replace(tmp, out)

    todo = [p for p in paths if p not in done]
    with mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1, enable_segmentation=False,
                                min_detection_confidence=0.5) as pose:
        for k, p in enumerate(todo):
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
                done[p] = {"width": w, "height": h,
                           "landmarks": [[q.x * w, q.y * h, q.visibility] for q in lm],
                           "world": [[q.x, q.y, q.z] for q in wl]}
            if k % 20 == 19:
                save()
                print(f"teacher: {len(done)}/{len(paths)}", file=sys.stderr, flush=True)
    save()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
