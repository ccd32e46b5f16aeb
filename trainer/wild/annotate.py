"""``python -m trainer annotate DIR``: a person accepts or rejects each fitted pose.

The window shows three panels for the current image: the photo with its 2D
keypoints (green) and the fitted skeleton's projection (yellow); the default
avatar in the fitted pose drawn over the photo (aligned by the fit's
scaled-orthographic camera); and the avatar from the side (drag to orbit,
wheel to zoom), where depth mistakes of the lifting show.

Keys: A or Right or Enter = accept, R or X or Delete = reject, B or Left or
Backspace = back, Q or Escape = quit. Each decision is appended to
``DIR/wild/decisions.jsonl`` and flushed to disk at once (a crash loses
nothing; the last line for an image wins). The tool opens at the first
undecided image; fits the automatic pre-filter rejected are not shown unless
``--all`` is given.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from animation.gltf import DEFAULT_AVATAR, load_avatar
from animation.overlay import draw_skeleton
from animation.render import Renderer
from animation.window import Window, hud_image
from trainer.data.realsets import read_decisions, read_labels

KEYS_HELP = "A accept   R reject   B back   Q quit"


class DecisionLog:
    """Append-only decisions, each fsynced before the tool moves on."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.decisions = read_decisions(self.path)
        self._f = open(self.path, "a")

    def write(self, image: str, decision: str) -> None:
        self._f.write(json.dumps({"image": image, "decision": decision,
                                  "time": time.strftime("%Y-%m-%dT%H:%M:%S")}) + "\n")
        self._f.flush()
        os.fsync(self._f.fileno())
        self.decisions[image] = decision

    def close(self) -> None:
        self._f.close()


def reviewable(labels: dict, show_all: bool = False) -> list[str]:
    """Image keys to review, in order: fits that passed the pre-filter (or every fit with ``show_all``)."""
    return [k for k in sorted(labels) if labels[k]["auto"] == "ok" or (show_all and "rotations" in labels[k])]


def overlay_projection(lab: dict, hips_offset: np.ndarray, photo_size: tuple[int, int]) -> np.ndarray:
    """4x4 matrix taking avatar world points (pelvis at the origin) onto the photo panel's NDC.

    Same scaled-orthographic camera as the fit's reprojection: image x = s x + a,
    image y = -s y + b; depth keeps what is nearer the camera (larger world z) in front.
    """
    fw, fh = photo_size
    j3 = np.asarray(lab["joints_3d"], np.float64)
    proj2 = np.asarray(lab["projected_2d"], np.float64)
    s = float(lab["scale_px_per_m"])
    a = proj2[:, 0].mean() - s * j3[:, 0].mean()
    b = proj2[:, 1].mean() + s * j3[:, 1].mean()
    m = np.zeros((4, 4))
    m[0, 0], m[0, 3] = 2 * s / fw, 2 * a / fw - 1
    m[1, 1], m[1, 3] = 2 * s / fh, 1 - 2 * b / fh
    m[2, 2] = -0.3
    m[3, 3] = 1.0
    t = np.eye(4)
    t[:3, 3] = -hips_offset  # the avatar's hips onto the fit's pelvis
    return m @ t


class Annotator:
    def __init__(self, root: Path, show_all: bool = False, width: int = 1500, height: int = 560):

        self.root = Path(root)
        labels = read_labels(self.root)
        self.labels = labels
        self.keys = reviewable(labels, show_all)
        self.auto_rejected = sum(v["auto"] != "ok" for v in labels.values())
        self.log = DecisionLog(self.root / "wild" / "decisions.jsonl")
        undecided = [i for i, k in enumerate(self.keys) if k not in self.log.decisions]
        self.index = undecided[0] if undecided else len(self.keys)
        self.avatar = load_avatar(DEFAULT_AVATAR)
        self.hud_image = hud_image
        self.win = Window(width, height, self.avatar, "SkeletonNet: review fitted poses")
        self.win.renderer.camera.yaw = 90.0
        self.win.renderer.camera.distance = 4.0
        g = self.win.glfw
        act = {"accept": (g.KEY_A, g.KEY_RIGHT, g.KEY_ENTER), "reject": (g.KEY_R, g.KEY_X, g.KEY_DELETE),
               "back": (g.KEY_B, g.KEY_LEFT, g.KEY_BACKSPACE), "quit": (g.KEY_Q, g.KEY_ESCAPE)}
        for name, codes in act.items():
            for c in codes:
                self.win.keys[c] = getattr(self, name)
        self._image_cache: tuple[str, np.ndarray] | None = None
        self.shown = 0
        self.t0 = time.perf_counter()

    # ------------------------------------------------------------------ actions

    def accept(self):
        self._decide("accept")

    def reject(self):
        self._decide("reject")

    def _decide(self, d: str):
        if self.index < len(self.keys):
            self.log.write(self.keys[self.index], d)
            self.index += 1
            if self.index >= len(self.keys):
                self.win.request_close()

    def back(self):
        self.index = max(0, self.index - 1)

    def quit(self):
        self.win.request_close()

    # ------------------------------------------------------------------ drawing

    def _photo(self, key: str) -> np.ndarray:
        if self._image_cache is None or self._image_cache[0] != key:
            img = cv2.imread(str(self.root / key))
            if img is None:
                img = np.zeros((240, 320, 3), np.uint8)
            self._image_cache = (key, img)
        return self._image_cache[1]

    def draw(self):
        r = self.win.renderer
        w, h = r.width, r.height
        r._clear()
        if self.index >= len(self.keys):
            return
        key = self.keys[self.index]
        lab = self.labels[key]
        img = self._photo(key)
        fh, fw = img.shape[:2]
        third = w // 3
        s = min(third / fw, (h - 60) / fh)
        pw, ph = int(fw * s), int(fh * s)
        rot = np.asarray(lab["rotations"], np.float64)
        r.set_pose(rot)
        hips = self.avatar.node_globals(rot)[self.avatar._hips][:3, 3]
        for panel in (0, 1):
            x0 = panel * third + (third - pw) // 2
            y0 = (h - 60 - ph) // 2
            rect = (2 * x0 / w - 1, 1 - 2 * (y0 + ph) / h, 2 * (x0 + pw) / w - 1, 1 - 2 * y0 / h)
            r.draw_image(img, rect)
            if panel == 0:
                r.draw_skeleton_2d(np.asarray(lab["projected_2d"]), (fw, fh), rect, color=(1.0, 0.85, 0.1, 1.0))
                r.draw_skeleton_2d(np.asarray(lab["joints_2d"]), (fw, fh), rect)
            else:
                r.draw_avatar(np.eye(4), overlay_projection(lab, hips, (fw, fh)), (x0, h - y0 - ph, pw, ph))
        r.ctx.viewport = (2 * third, 0, w - 2 * third, h - 60)
        cam = r.camera
        r.draw_avatar(cam.view(), cam.projection((w - 2 * third) / (h - 60)), (2 * third, 0, w - 2 * third, h - 60))
        r.ctx.viewport = (0, 0, w, h)
        dec = self.log.decisions.get(key, "undecided")
        done = sum(k in self.log.decisions for k in self.keys)
        lines = [f"{self.index + 1}/{len(self.keys)}  {key}  [{dec}]   reviewed {done}, "
                 f"pre-filter rejected {self.auto_rejected}   reprojection {lab['reprojection_rel'] * 100:.1f}% "
                 f"of body size   {KEYS_HELP}"]
        hud = self.hud_image(lines, width=w)
        r.draw_image(hud, (-1.0, -1.0, 1.0, -1.0 + 2.0 * hud.shape[0] / h), slot="hud")

    def run(self, screenshot: Path | None = None) -> dict:
        while self.win.open and self.index < len(self.keys):
            self.draw()
            if screenshot is not None and self.shown == 0:
                cv2.imwrite(str(screenshot), self.win.screenshot()[..., ::-1])
            self.shown += 1
            self.win.glfw.swap_buffers(self.win.win)
            self.win.glfw.wait_events_timeout(0.05)
        self.log.close()
        self.win.close()
        return {k: self.log.decisions.get(k) for k in self.keys}


def contact_sheet(root: Path, out: Path, show_all: bool = False, columns: int = 4, tile_h: int = 240) -> int:
    """Render every fit (offscreen): the photo crop with keypoints (green) and fit (yellow), the avatar over
    the crop, and the avatar from the side; numbered in review order. (Keypoints: red right, blue left.)
    Returns the number of tiles."""

    root = Path(root)
    labels = read_labels(root)
    keys = reviewable(labels, show_all)
    avatar = load_avatar(DEFAULT_AVATAR)
    side = Renderer(tile_h, tile_h, avatar=avatar)
    side.camera.yaw, side.camera.distance = 90.0, 4.0
    r = Renderer(64, 64, avatar=avatar)  # resized to each photo
    tiles = []
    for n, key in enumerate(keys):
        lab = labels[key]
        img = cv2.imread(str(root / key))
        if img is None:
            continue
        fh, fw = img.shape[:2]
        rot = np.asarray(lab["rotations"], np.float64)
        r.resize(fw, fh)
        r.set_pose(rot)
        r._clear()
        r.draw_image(img)
        hips = avatar.node_globals(rot)[avatar._hips][:3, 3]
        r.draw_avatar(np.eye(4), overlay_projection(lab, hips, (fw, fh)), (0, 0, fw, fh))
        over = r.read()[..., ::-1]
        j2 = np.asarray(lab["joints_2d"])
        c = j2[np.asarray(lab["confidence"]) >= 0.5] if (np.asarray(lab["confidence"]) >= 0.5).sum() > 2 else j2
        cx, cy = (c.max(0) + c.min(0)) / 2
        half = max(*(c.max(0) - c.min(0))) * 0.65 + 10
        x0, y0 = int(max(cx - half, 0)), int(max(cy - half, 0))
        x1, y1 = int(min(cx + half, fw)), int(min(cy + half, fh))
        kp = draw_skeleton(img.copy(), j2, 2)
        for q in np.asarray(lab["projected_2d"]):  # the fitted skeleton's projection: yellow dots
            cv2.circle(kp, (int(q[0]), int(q[1])), 4, (0, 215, 255), -1)
        crops = [cv2.resize(a[y0:y1, x0:x1], (tile_h * (x1 - x0) // max(y1 - y0, 1), tile_h)) for a in (kp, over)]
        side.set_pose(rot)
        side.render()
        tile = np.concatenate(crops + [side.read()[..., ::-1]], 1)
        cv2.putText(tile, f"{n + 1} {Path(key).name}", (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 2)
        tiles.append(tile)
    side.close()
    r.close()
    if not tiles:
        return 0
    w = max(t.shape[1] for t in tiles)
    tiles = [np.pad(t, ((0, 4), (0, w - t.shape[1] + 4), (0, 0))) for t in tiles]
    tiles += [np.zeros_like(tiles[0])] * (-len(tiles) % columns)
    rows = [np.concatenate(tiles[i:i + columns], 1) for i in range(0, len(tiles), columns)]
    cv2.imwrite(str(out), np.concatenate(rows, 0))
    return len(keys)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m trainer annotate", description=__doc__.splitlines()[0])
    ap.add_argument("dir")
    ap.add_argument("--all", action="store_true", help="also show fits the pre-filter rejected")
    ap.add_argument("--screenshot", default=None, help="save the first drawn frame (PNG)")
    ap.add_argument("--sheet", default=None, metavar="PNG",
                    help="no window: render all fits to one contact sheet (offscreen) and exit")
    args = ap.parse_args(argv)
    if args.sheet:
        n = contact_sheet(Path(args.dir), Path(args.sheet), args.all)
        print(f"{n} fits -> {args.sheet}")
        return 0 if n else 2
    t0 = time.perf_counter()
    a = Annotator(Path(args.dir), args.all)
    if not a.keys:
        print(f"trainer: {args.dir}: nothing to review (no fit passed the pre-filter; --all shows them)",
              file=sys.stderr)
        return 2
    res = a.run(Path(args.screenshot) if args.screenshot else None)
    acc = sum(v == "accept" for v in res.values())
    rej = sum(v == "reject" for v in res.values())
    print(f"{acc} accepted, {rej} rejected, {len(res) - acc - rej} left of {len(res)} "
          f"({time.perf_counter() - t0:.1f} s) -> {a.log.path}")
    return 0
