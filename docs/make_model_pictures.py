"""Overlay pictures of a model on real photographs: ``python docs/make_model_pictures.py [MODEL.onnx]``.

For OpenCV's messi5.jpg and basketball2.png and three frames of the Sports2D
demo video: the estimator's 2D skeleton over the photo, beside the default
avatar posed by the predicted rotations (seen from the camera's side). These
are held out from the in-the-wild training images (docs/wild.md): the photos,
and frames 170, 188 and 210 of the full video when `data/wild/sports2d_demo.mp4`
is there (otherwise frames 10, 75 and 140 of the bundled clip, which the
default model has trained on).
Writes docs/images/model_on_photos.png; with the synthetic data present
(data/synth), also docs/images/model_on_synth.png: 12 synthetic test images,
ground-truth skeleton (left) beside the prediction (right), with the avatar in
the predicted and in the true pose; with the reviewed real images present
(data/wild), also docs/images/model_on_real_crops.png: 8 held-out real images
cropped around the teacher's keypoints, the teacher's skeleton beside the
model's, and the avatar in the predicted pose; with the Sports2D video present, also
docs/images/model_real_heldout.png: the app's own tracking (person detector, presence, filter;
default config) run over the whole video, six of its held-out frames 160-229 with the skeleton drawn
as `mocap process --video` draws it.
"""
import sys
from pathlib import Path

import cv2
import numpy as np

from animation.gltf import DEFAULT_AVATAR, load_avatar
from animation.overlay import draw_skeleton
from animation.render import Renderer
from engine.backends import OnnxRuntimeBackend
from engine.estimator import Estimator
from engine.settings import EngineSettings

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = [Path("/usr/share/doc/opencv-doc/examples/data/messi5.jpg"),
          Path("/usr/share/doc/opencv-doc/examples/data/basketball2.png")]
HELD_OUT_VIDEO = ROOT / "data" / "wild" / "sports2d_demo.mp4"


def frames():
    for p in PHOTOS:
        img = cv2.imread(str(p))
        if img is not None:
            yield p.name, img
    video, picks = ((HELD_OUT_VIDEO, (170, 188, 210)) if HELD_OUT_VIDEO.exists() else
                    (ROOT / "assets" / "demo.mp4", (10, 75, 140)))
    cap = cv2.VideoCapture(str(video))
    for k in range(max(picks) + 1):
        ok, f = cap.read()
        if ok and k in picks:
            yield f"{video.name} frame {k}", f


def photo_figure(model: Path):
    backend = OnnxRuntimeBackend(model)
    avatar = load_avatar(DEFAULT_AVATAR)
    r = Renderer(300, 300, avatar=avatar)
    r.camera.distance = 3.0
    tiles = []
    for name, img in frames():
        est = Estimator(backend, EngineSettings().replaced({"filter.enabled": False, "tracking.min_confidence": 0.0}))
        pose = est(img, 0.0)
        pose = est(img, 0.1)  # second pass on the tracked crop
        h = 300
        s = h / img.shape[0]
        vis = draw_skeleton(cv2.resize(img, None, fx=s, fy=s), pose.joints_2d * s, 3)
        cv2.putText(vis, f"{name}  conf {pose.confidence:.2f}", (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.55,
                    (255, 255, 255), 2, cv2.LINE_AA)
        r.set_pose(pose.rotations)
        r.render()
        tiles.append(np.concatenate([vis, r.read()[..., ::-1]], 1))
    w = max(t.shape[1] for t in tiles)
    tiles = [np.pad(t, ((0, 0), (0, w - t.shape[1]), (0, 0))) for t in tiles]
    out = ROOT / "docs" / "images" / "model_on_photos.png"
    cv2.imwrite(str(out), np.concatenate(tiles, 0))
    print(f"wrote {out}")


def crop_figure(net, src, n: int, out: Path, true_pose: bool) -> None:
    """``n`` samples of ``src`` spread over it, two per row: the labelled 2D skeleton, the predicted
    one, (the avatar in the labelled pose,) the avatar in the predicted pose."""
    avatar = load_avatar(DEFAULT_AVATAR)
    r = Renderer(net.input_size, net.input_size, avatar=avatar)
    r.camera.distance = 3.4
    tiles = []
    for i in np.linspace(0, len(src) - 1, n).astype(int):
        s = src.sample(int(i))
        o = net(s["image"][None], s["camera"][None])
        img = np.ascontiguousarray((s["image"].transpose(1, 2, 0)[..., ::-1] * 255).astype(np.uint8))
        views = [draw_skeleton(img.copy(), s["joints_2d"], 2), draw_skeleton(img.copy(), o["joints_2d"][0], 2)]
        for rot in ((s["rotations"],) if true_pose else ()) + (o["rotations"][0],):
            r.set_pose(rot)
            r.render()
            views.append(r.read()[..., ::-1])
        tiles.append(np.concatenate(views, 1))
    cols = 2
    rows = [np.concatenate(tiles[k:k + cols], 1) for k in range(0, len(tiles), cols)]
    cv2.imwrite(str(out), np.concatenate(rows, 0))
    print(f"wrote {out}")


def synth_figure(model: Path, root: Path = ROOT / "data" / "synth", n: int = 12):
    from trainer.data.dataset import SynthSource
    from trainer.evaluate import OnnxNet

    if not (root / "test").is_dir():
        return
    net = OnnxNet(model)
    src = SynthSource(root, "test", net.input_size, None, False)
    crop_figure(net, src, n, ROOT / "docs" / "images" / "model_on_synth.png", true_pose=True)


def wild_figure(model: Path, root: Path = ROOT / "data" / "wild", n: int = 8):
    """Held-out real images (docs/wild.md), cropped around the teacher's keypoints as the PCK score
    does: the teacher's 2D skeleton, the model's, and the avatar in the predicted pose (the fitted
    pose of an image not reviewed is no truth to show)."""
    from trainer.data.realsets import WildSource
    from trainer.evaluate import OnnxNet

    holdout = root / "holdout.txt"
    if not (root / "wild" / "labels.json").exists() or not holdout.exists():
        return
    net = OnnxNet(model)
    src = WildSource(root, "test", net.input_size, None, False, "all", str(holdout))
    crop_figure(net, src, n, ROOT / "docs" / "images" / "model_on_real_crops.png", true_pose=False)


def video_figure(model: Path, picks=(165, 178, 191, 204, 217, 229)):
    """The app end to end on the held-out part of the Sports2D video: the estimator
    ``mocap process`` builds (default config, this model), fed every frame from the start so that
    tracking is as it is in the app; six frames in a 3x2 grid."""
    from app.config import load_config
    from app.pipeline import draw_overlay

    if not HELD_OUT_VIDEO.exists():
        return
    est = Estimator.open(load_config(overrides={"model.path": str(model)}).engine, log=lambda m: None)
    cap = cv2.VideoCapture(str(HELD_OUT_VIDEO))
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    tiles = []
    for k in range(max(picks) + 1):
        ok, f = cap.read()
        if not ok:
            break
        pose = est(f, k / fps)
        if k in picks:
            vis = cv2.resize(draw_overlay(f, pose), (480, round(480 * f.shape[0] / f.shape[1])))
            cv2.rectangle(vis, (0, 0), (480, 24), (0, 0, 0), -1)
            label = f"frame {k}  presence {pose.confidence:.2f}  {'tracked' if pose.detected else 'nobody'}"
            cv2.putText(vis, label, (6, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
            tiles.append(vis)
    rows = [np.concatenate(tiles[k:k + 3], 1) for k in range(0, len(tiles) - 2, 3)]
    out = ROOT / "docs" / "images" / "model_real_heldout.png"
    cv2.imwrite(str(out), np.concatenate(rows, 0))
    print(f"wrote {out}")


if __name__ == "__main__":
    chosen = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "assets" / "skeletonnet.onnx"
    if not chosen.is_file():
        sys.exit(f"{chosen}: model not found")
    photo_figure(chosen)
    synth_figure(chosen)
    wild_figure(chosen)
    video_figure(chosen)
