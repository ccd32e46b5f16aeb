"""BlazePose full timer, run *inside* the teacher environment (``.venv-teacher``) by
``benchmarks/speed_vs_blazepose.py``.

Standalone on purpose: MediaPipe 0.10.21 pins numpy<2 and protobuf<5, so it cannot share the
project's environment and imports nothing from this project.

    .venv-teacher/bin/python benchmarks/blazepose_timer.py FRAMES.npy

FRAMES.npy: (N, H, W, 3) uint8 RGB, read whole into memory at start. One
``mediapipe.solutions.pose.Pose(model_complexity=1, static_image_mode=False)`` (BlazePose GHUM
full in video mode: the landmark model tracks its own region of interest from frame to frame and
the person detector runs only when the person is lost), made once and kept for every block, so its
tracking carries on as a live app's would.

Protocol, one line each way (stdout carries nothing else; MediaPipe's own logging goes to stderr):

* at start the worker prints ``{"ready": true, "mediapipe": ..., "frames": N, "threads": {...}}``;
* for each line ``run`` on stdin it processes the N frames in order, timing each ``pose.process(rgb)``
  call with ``time.perf_counter``, and prints ``{"ms": [N times], "found": frames with a person,
  "cpu_s": process CPU time over the block, "os_threads": threads of the process after it}``;
* ``quit`` (or the end of stdin) closes the graph and exits 0.
"""
import json
import os
import sys
import time


def os_threads() -> int:
    """Threads of this process now (Linux /proc; 0 where it is not available)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Threads:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def main(argv):
    if len(argv) != 1:
        print("usage: blazepose_timer.py FRAMES.npy", file=sys.stderr)
        return 2
    out = os.fdopen(os.dup(1), "w")  # the protocol's stdout; fd 1 goes to stderr, so stray prints cannot corrupt it
    os.dup2(2, 1)
    import cv2  # MediaPipe exists only in the teacher environment: this file stays importable elsewhere
    import mediapipe as mp
    import numpy as np

    frames = np.load(argv[0])  # whole, not memory-mapped: no page faults inside the timed calls
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        print(f"{argv[0]}: expected (N, H, W, 3) uint8 RGB, got {frames.shape} {frames.dtype}", file=sys.stderr)
        return 2
    pose = mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1, smooth_landmarks=True,
                                  enable_segmentation=False, min_detection_confidence=0.5,
                                  min_tracking_confidence=0.5)

    def reply(obj):
        out.write(json.dumps(obj) + "\n")
        out.flush()

    reply({"ready": True, "mediapipe": mp.__version__, "numpy": np.__version__, "opencv": cv2.__version__,
           "python": sys.version.split()[0], "frames": int(frames.shape[0]),
           "size": [int(frames.shape[2]), int(frames.shape[1])],
           "threads": {"cpu_count": os.cpu_count(), "opencv_threads": cv2.getNumThreads(),
                       "os_threads_at_start": os_threads(),
                       "env": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
                               if k in os.environ}}})
    try:
        for line in sys.stdin:
            cmd = line.strip()
            if cmd == "quit":
                break
            if cmd != "run":
                reply({"error": f"unknown command {cmd!r} (run | quit)"})
                continue
            ms, found = [], 0
            c0 = time.process_time()
            for rgb in frames:
                t0 = time.perf_counter()
                res = pose.process(rgb)
                ms.append((time.perf_counter() - t0) * 1000.0)
                found += res.pose_landmarks is not None
            reply({"ms": ms, "found": found, "cpu_s": time.process_time() - c0, "os_threads": os_threads()})
    finally:
        pose.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
