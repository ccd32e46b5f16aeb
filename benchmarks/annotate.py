"""Annotation tool overhead: time to load and draw each fit (the rest of the throughput is the person's).

``xvfb-run -a -s "-screen 0 1600x900x24" python -m benchmarks.annotate DIR`` steps through every fit
of DIR (labelled by ``python -m trainer wild DIR``) in the review window, without writing decisions
(the labels are copied to a temporary folder), and writes benchmarks/results/annotate.json.
"""
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from trainer.wild.annotate import Annotator


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    src = Path(argv[0] if argv else "data/wild")
    tmp = Path(tempfile.mkdtemp())
    labels = json.loads((src / "wild" / "labels.json").read_text())
    for key in labels:  # images as links, labels copied: the real decision log is not touched
        (tmp / key).parent.mkdir(parents=True, exist_ok=True)
        (tmp / key).symlink_to((src / key).resolve())
    shutil.copy(src / "wild" / "labels.json", tmp / "wild" / "labels.json")
    a = Annotator(tmp)
    n = len(a.keys)
    t = time.perf_counter()
    for i in range(n):
        a.index, a._image_cache = i, None
        a.draw()
        a.win.glfw.swap_buffers(a.win.win)
        a.win.glfw.poll_events()
    ms = (time.perf_counter() - t) / max(n, 1) * 1000
    a.win.close()
    print(f"{n} fits, {ms:.0f} ms per fit (image load + draw + swap)")
    Path("benchmarks/results").mkdir(parents=True, exist_ok=True)
    Path("benchmarks/results/annotate.json").write_text(json.dumps({"fits": n, "ms_per_fit": round(ms, 1)}))
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
