"""Regenerate the pictures in docs/images: ``python docs/make_pictures.py``.

render_live.png: the live layout (a camera image, here a photograph, beside the
default avatar posed from frame 1200 of the CMU clip 01_01, with our 3D
skeleton over it). avatar_turntable.png: the default avatar from four sides.
"""
from pathlib import Path

import cv2
import numpy as np

from animation.bvh import read_bvh
from animation.bvh_retarget import clip_to_poses
from animation.gltf import DEFAULT_AVATAR, load_avatar
from animation.render import Renderer
from engine import skeleton as S

OUT = Path(__file__).resolve().parent / "images"
CLIP = Path("/usr/share/assimp/models/BVH/01_01.bvh")
PHOTO = Path("/usr/share/doc/opencv-doc/examples/data/messi5.jpg")


def main():
    OUT.mkdir(exist_ok=True)
    avatar = load_avatar(DEFAULT_AVATAR)
    poses = clip_to_poses(read_bvh(CLIP))
    rots = poses.rotations[1200]
    r = Renderer(1280, 560, avatar=avatar)
    r.set_pose(rots)
    frame = cv2.imread(str(PHOTO)) if PHOTO.exists() else np.full((342, 548, 3), 80, np.uint8)
    joints = S.Skeleton.default().forward_kinematics(rots, [0, 0.99, 0])
    r.render(frame=frame, joints_3d_world=joints)
    cv2.imwrite(str(OUT / "render_live.png"), r.read()[..., ::-1])
    r.close()
    r = Renderer(320, 480, avatar=avatar)
    r.set_pose(None)
    views = []
    for yaw in (0, 90, 180, 270):
        r.camera.yaw = yaw
        r.render()
        views.append(r.read())
    cv2.imwrite(str(OUT / "avatar_turntable.png"), np.concatenate(views, 1)[..., ::-1])
    r.close()
    print(f"wrote {OUT / 'render_live.png'} and {OUT / 'avatar_turntable.png'}")


if __name__ == "__main__":
    main()
