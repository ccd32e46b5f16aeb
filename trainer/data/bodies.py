"""Random Anny bodies as posable avatars, with clothing made of vertex colours.

Each body: a random phenotype (gender, age from teenager up, muscle, weight,
height, proportions), a skin tone, and clothes made by colouring body regions
(shirt with short or long sleeves, trousers or shorts, shoes, hair) with
solid colours, stripes, smooth noise or colours sampled from a photograph.
The ``cmu_mb`` rig's 31 bones are kept; humanoid bones are mapped so
the retargeting (``animation.avatar.Avatar``) poses the body from our 15 rotations.

Our 16 joints on the rig (the one definition, used for every label):
hips, knees, ankles, shoulders, elbows, wrists = the heads of the
``*UpLeg``, ``*Leg``, ``*Foot``, ``*Arm``, ``*ForeArm``, ``*Hand`` bones;
``pelvis`` = midpoint of the two hip joints; ``thorax`` = head of ``Neck``
(base of the neck); ``upper_neck`` = head of ``Head``; ``head_top`` = the
point on the head bone's axis level with the highest head vertex (fixed to
the head bone).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from animation.avatar import Avatar, Part
from engine import rotations as R
from engine import skeleton as S
from engine.errors import UserError

ANNY_TO_GLTF = np.array([[1.0, 0, 0], [0, 0, 1], [0, -1, 0]])
HUMANOID = {
    "hips": "Hips", "spine": "LowerBack", "chest": "Spine1", "neck": "Neck", "head": "Head",
    **{f"{s}{h}": f"{S_}{a}" for s, S_ in (("left", "Left"), ("right", "Right")) for h, a in (
        ("Shoulder", "Shoulder"), ("UpperArm", "Arm"), ("LowerArm", "ForeArm"), ("Hand", "Hand"),
        ("UpperLeg", "UpLeg"), ("LowerLeg", "Leg"), ("Foot", "Foot"))},
}
JOINT_BONES = {"r_hip": "RightUpLeg", "r_knee": "RightLeg", "r_ankle": "RightFoot", "l_hip": "LeftUpLeg",
               "l_knee": "LeftLeg", "l_ankle": "LeftFoot", "thorax": "Neck", "upper_neck": "Head",
               "r_wrist": "RightHand", "r_elbow": "RightForeArm", "r_shoulder": "RightArm",
               "l_shoulder": "LeftArm", "l_elbow": "LeftForeArm", "l_wrist": "LeftHand"}
#: our bone -> rig bone whose frame gives the bone's twist
DRIVERS = {"r_hip": "Hips", "r_thigh": "RightUpLeg", "r_shin": "RightLeg", "l_hip": "Hips", "l_thigh": "LeftUpLeg",
           "l_shin": "LeftLeg", "spine": "LowerBack", "neck": "Neck", "head": "Head", "r_clavicle": "RightShoulder",
           "r_upper_arm": "RightArm", "r_forearm": "RightForeArm", "l_clavicle": "LeftShoulder",
           "l_upper_arm": "LeftArm", "l_forearm": "LeftForeArm"}
SKIN_TONES = np.array([[0.98, 0.84, 0.74], [0.92, 0.74, 0.62], [0.82, 0.62, 0.48], [0.68, 0.48, 0.34],
                       [0.52, 0.36, 0.25], [0.36, 0.24, 0.17], [0.25, 0.17, 0.12]])


def check_anny() -> None:
    """Raise UserError (one line) saying what to install when Anny (or torch) is missing."""
    import importlib.util

    if importlib.util.find_spec("torch") is None or importlib.util.find_spec("anny") is None:
        raise UserError("synthetic data needs the Anny body model: pip install torch==2.13.0, "
                         "then pip install -e '.[train]'")


def load_anny():
    check_anny()
    import anny

    return anny.Anny(rig="cmu_mb")


@dataclass
class Body:
    avatar: Avatar
    body_id: int
    phenotype: dict
    head_top_local: np.ndarray       # (4,) homogeneous point in the Head bone's frame
    node: dict                       # rig bone name -> node index

    def joints(self, globals_: np.ndarray) -> np.ndarray:
        """Our 16 joints (16, 3) from posed rig node matrices (N, 4, 4)."""
        j = np.zeros((S.NUM_JOINTS, 3))
        for name, bone in JOINT_BONES.items():
            j[S.JOINT_INDEX[name]] = globals_[self.node[bone]][:3, 3]
        j[S.ROOT] = 0.5 * (j[S.JOINT_INDEX["r_hip"]] + j[S.JOINT_INDEX["l_hip"]])
        j[S.JOINT_INDEX["head_top"]] = (globals_[self.node["Head"]] @ self.head_top_local)[:3]
        return j

    def rotation_labels(self, globals_: np.ndarray, joints: np.ndarray) -> np.ndarray:
        """Our 15 absolute rotations (15, 3, 3) for posed joints, by the one rule:
        the driving rig bone's rotation from rest carries our rest bone onto its rest
        direction on this body, then the minimal turn makes the direction exact."""

        rest_g = self.avatar.rest_global
        rest_j = self.joints(rest_g)
        sk = S.Skeleton.default()
        out = np.empty((S.NUM_BONES, 3, 3))
        for b, name in enumerate(S.BONE_NAMES):
            n = self.node[DRIVERS[name]]
            q_rest = rest_g[n][:3, :3] / np.linalg.norm(rest_g[n][:3, :3], axis=0)
            q_pose = globals_[n][:3, :3] / np.linalg.norm(globals_[n][:3, :3], axis=0)
            s, e = S.BONES[b]
            align = R.rotation_between(sk.bone_vectors[b], rest_j[e] - rest_j[s])
            approx = q_pose @ q_rest.T @ align
            fix = R.rotation_between(approx @ sk.bone_vectors[b], joints[e] - joints[s])
            out[b] = fix @ approx
        return out


def random_phenotype(rng: np.random.Generator) -> dict:
    return {"gender": rng.uniform(0, 1), "age": rng.uniform(0.5, 1.0), "muscle": rng.uniform(0.1, 0.9),
            "weight": rng.uniform(0.15, 0.9), "height": rng.uniform(0.15, 0.9),
            "proportions": rng.uniform(0.2, 0.8)}


def make_body(model, rng: np.random.Generator, body_id: int, photos: list[np.ndarray] | None = None) -> Body:
    """One random body as an Avatar (glTF axes: Y-up, facing +Z, feet on y = 0)."""
    import torch

    phen = random_phenotype(rng)
    with torch.no_grad():
        out = model(phenotype_kwargs={k: torch.tensor([v], dtype=torch.float64) for k, v in phen.items()},
                    return_bone_ends=True)
    labels = list(model.bone_labels)
    c4 = np.eye(4)
    c4[:3, :3] = ANNY_TO_GLTF
    verts = out["rest_vertices"][0].double().numpy() @ ANNY_TO_GLTF.T
    floor = verts[:, 1].min()
    verts[:, 1] -= floor
    c4[1, 3] = -floor
    g = c4 @ out["rest_bone_poses"][0].double().numpy()
    parents = np.asarray(model.bone_parents, dtype=np.int64)
    local = np.stack([g[i] if parents[i] < 0 else np.linalg.inv(g[parents[i]]) @ g[i] for i in range(len(g))])
    faces = model.get_triangular_faces().long().numpy()
    vidx = model.vertex_bone_indices.long().numpy()
    vw = model.vertex_bone_weights.double().numpy()
    order = np.argsort(-vw, axis=1)[:, :4]
    w = np.take_along_axis(vw, order, 1)
    w /= np.maximum(w.sum(1, keepdims=True), 1e-9)
    j = np.take_along_axis(vidx, order, 1)
    colours = clothe(verts, labels, j[:, 0], rng, photos)
    from trainer.avatar_build import vertex_normals

    avatar = Avatar(
        path=f"anny-body-{body_id}", positions=verts.astype(np.float32),
        normals=vertex_normals(verts, faces).astype(np.float32),
        colors=np.concatenate([colours, np.ones((len(verts), 1))], 1).astype(np.float32),
        uvs=np.zeros((len(verts), 2), np.float32), joints=j, weights=w.astype(np.float32),
        indices=faces.reshape(-1).astype(np.uint32), parts=[Part(0, faces.size, -1)], textures=[],
        node_names=labels, node_parents=parents, rest_local=local,
        joint_nodes=np.arange(len(labels)), inverse_bind=np.linalg.inv(g),
        humanoid={h: labels.index(a) for h, a in HUMANOID.items()}, kind="anny")
    node = {n: i for i, n in enumerate(labels)}
    head = node["Head"]
    head_g = avatar.rest_global[head]
    axis = head_g[:3, :3] @ np.array([0.0, 1.0, 0.0])
    axis /= np.linalg.norm(axis)
    head_verts = verts[j[:, 0] == head]
    height = ((head_verts - head_g[:3, 3]) @ axis).max()
    top_world = np.append(head_g[:3, 3] + height * axis, 1.0)
    return Body(avatar, body_id, phen, np.linalg.inv(head_g) @ top_world, node)


# --------------------------------------------------------------------------- clothing

def _pattern(rng, pts: np.ndarray, base: np.ndarray, photos) -> np.ndarray:
    """Colours (n, 3) for garment vertices ``pts`` (n, 3): solid, stripes, noise or photo."""
    kind = rng.choice(["solid", "stripes", "noise", "photo"], p=[0.4, 0.2, 0.25, 0.15])
    n = len(pts)
    if kind == "solid" or n == 0:
        return np.tile(base, (n, 1))
    if kind == "stripes":
        other = rng.uniform(0, 1, 3)
        axis = rng.choice([0, 1])
        freq = rng.uniform(15, 60)
        on = np.sin(pts[:, axis] * freq + rng.uniform(0, 6.28)) > rng.uniform(-0.3, 0.3)
        return np.where(on[:, None], base, other)
    if kind == "noise":
        f = np.zeros(n)
        for _ in range(4):
            k = rng.normal(0, rng.uniform(5, 25), 3)
            f += np.sin(pts @ k + rng.uniform(0, 6.28))
        f = (f - f.min()) / max(np.ptp(f), 1e-6)
        other = rng.uniform(0, 1, 3)
        return base * (1 - f[:, None]) + other * f[:, None]
    if photos:
        img = photos[rng.integers(len(photos))]
        h, w = img.shape[:2]
        span = pts[:, :2] - pts[:, :2].min(0)
        span = span / max(span.max(), 1e-6)
        u = (span[:, 0] * rng.uniform(0.2, 1) * (w - 1)).astype(int)
        v = ((1 - span[:, 1]) * rng.uniform(0.2, 1) * (h - 1)).astype(int)
        return img[v, u, ::-1].astype(np.float64) / 255.0
    return np.tile(base, (n, 1))


def clothe(verts: np.ndarray, labels: list[str], dominant: np.ndarray, rng, photos=None) -> np.ndarray:
    """Per-vertex RGB 0..1: skin plus shirt, trousers or shorts, shoes and hair."""
    tone = SKIN_TONES[rng.integers(len(SKIN_TONES))] * rng.uniform(0.92, 1.06)
    col = np.tile(np.clip(tone, 0, 1), (len(verts), 1))
    bone = np.array(labels)[dominant]
    height = verts[:, 1]
    top = height.max()

    def region(names):
        return np.isin(bone, names)

    torso = region(["LowerBack", "Spine", "Spine1", "LeftShoulder", "RightShoulder", "Hips"]) & (height > 0.5 * top)
    sleeves = rng.choice(["none", "short", "long"], p=[0.15, 0.45, 0.4])
    arm = region(["LeftArm", "RightArm"])
    if sleeves == "short":
        shoulder_h = verts[region(["LeftArm"]), 1].max()
        arm &= height > shoulder_h - rng.uniform(0.08, 0.2)
    elif sleeves == "long":
        arm |= region(["LeftForeArm", "RightForeArm"])
    elif sleeves == "none":
        arm[:] = False
    shirt = torso | arm
    legs = region(["Hips", "LHipJoint", "RHipJoint", "LeftUpLeg", "RightUpLeg"]) & (height <= 0.62 * top)
    shorts = rng.random() < 0.3
    if shorts:
        legs &= height > rng.uniform(0.3, 0.4) * top
    else:
        legs |= region(["LeftLeg", "RightLeg"])
    shoes = region(["LeftFoot", "RightFoot", "LeftToeBase", "RightToeBase"])
    head = region(["Head"])
    hair = np.zeros(len(verts), bool)
    if rng.random() < 0.85:
        hv = verts[head]
        cz = hv[:, 2].mean()
        hair = head & ((height > top - rng.uniform(0.07, 0.12)) | ((verts[:, 2] < cz - 0.02) & (height > top - 0.2)))
    for mask, base in ((shirt, rng.uniform(0, 1, 3)), (legs, rng.uniform(0, 0.8, 3)),
                       (shoes, rng.uniform(0, 0.6, 3)), (hair, np.array([0.1, 0.07, 0.05]) * rng.uniform(0.5, 6))):
        if mask.any():
            col[mask] = _pattern(rng, verts[mask], np.clip(base, 0, 1), photos if mask is shirt else None)
    return np.clip(col, 0, 1)
