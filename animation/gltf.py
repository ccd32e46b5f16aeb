"""Reading skinned avatars from glTF 2.0 / GLB / VRM 0.x / VRM 1.0 files (pygltflib).

``load_avatar(path)`` reads meshes (triangles), skins, inverse bind matrices,
vertex colours and base-colour textures into one ``animation.avatar.Avatar``.
Humanoid bones come from the VRM extension
(0.x: ``extensions.VRM.humanoid.humanBones``; 1.0:
``extensions.VRMC_vrm.humanoid.humanBones``) or, for plain glTF, from node
names (Unity/VRM names, Mixamo names, VRoid ``J_Bip_*`` names).
VRM 0.x avatars face -Z in the file and are turned 180 degrees about Y.

Bad input raises ``AvatarError`` with one line naming the file and the problem.
"""
from __future__ import annotations

import base64
import re
import warnings
from pathlib import Path

import numpy as np

from animation.avatar import REQUIRED, Avatar, Part
from engine import rotations as R
from engine.errors import UserError


class AvatarError(UserError):
    """The avatar file cannot be used; one line naming the file and the problem."""


SUPPORTED_EXTENSIONS = {"VRM", "VRMC_vrm", "VRMC_springBone", "VRMC_materials_mtoon", "VRMC_node_constraint",
                        "KHR_materials_unlit", "KHR_texture_transform", "KHR_materials_emissive_strength"}
_ALIASES = {  # normalised node name -> humanoid bone
    "hips": "hips", "pelvis": "hips", "spine": "spine", "spine1": "chest", "chest": "chest",
    "spine2": "upperChest", "upperchest": "upperChest", "neck": "neck", "head": "head",
    **{f"{s}{k}": f"{side}{v}" for side, s in (("left", "left"), ("right", "right")) for k, v in (
        ("shoulder", "Shoulder"), ("upperarm", "UpperArm"), ("arm", "UpperArm"), ("lowerarm", "LowerArm"),
        ("forearm", "LowerArm"), ("hand", "Hand"), ("upperleg", "UpperLeg"), ("upleg", "UpperLeg"),
        ("thigh", "UpperLeg"), ("lowerleg", "LowerLeg"), ("leg", "LowerLeg"), ("calf", "LowerLeg"),
        ("foot", "Foot"))},
}



def _node_matrix(node) -> np.ndarray:
    if node.matrix:
        return np.array(node.matrix, dtype=np.float64).reshape(4, 4).T
    m = np.eye(4)
    if node.rotation:
        m[:3, :3] = R.quat_to_matrix(np.array(node.rotation, dtype=np.float64))
    if node.scale:
        m[:3, :3] = m[:3, :3] * np.array(node.scale, dtype=np.float64)
    if node.translation:
        m[:3, 3] = node.translation
    return m


_COMPONENTS = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT4": 16}
_DTYPES = {5120: np.int8, 5121: np.uint8, 5122: np.int16, 5123: np.uint16, 5125: np.uint32, 5126: np.float32}


class _Reader:
    def __init__(self, gltf, path: Path):
        self.gltf, self.path = gltf, path
        self._buffers: dict[int, bytes] = {}

    def buffer(self, i: int) -> bytes:
        if i not in self._buffers:
            b = self.gltf.buffers[i]
            if b.uri is None:
                data = self.gltf.binary_blob()
            elif b.uri.startswith("data:"):
                data = base64.b64decode(b.uri.split(",", 1)[1])
            else:
                f = self.path.parent / b.uri
                if not f.exists():
                    raise AvatarError(f"{self.path}: buffer file {b.uri} is missing")
                data = f.read_bytes()
            if data is None:
                raise AvatarError(f"{self.path}: the binary buffer is missing")
            if b.byteLength is not None and len(data) < b.byteLength:
                raise AvatarError(f"{self.path}: buffer {i} is truncated ({len(data)} of {b.byteLength} bytes)")
            self._buffers[i] = data
        return self._buffers[i]

    def view(self, i: int) -> tuple[bytes, int, int | None]:
        v = self.gltf.bufferViews[i]
        return self.buffer(v.buffer), (v.byteOffset or 0), v.byteStride

    def accessor(self, i: int, normalize_ints: bool = False) -> np.ndarray:
        a = self.gltf.accessors[i]
        if a.sparse is not None:
            raise AvatarError(f"{self.path}: sparse accessors are not supported")
        dt = np.dtype(_DTYPES[a.componentType])
        nc = _COMPONENTS[a.type]
        if a.bufferView is None:
            return np.zeros((a.count, nc), dtype=dt)
        data, offset, stride = self.view(a.bufferView)
        offset += a.byteOffset or 0
        item = dt.itemsize * nc
        stride = stride or item
        raw = np.frombuffer(data, dtype=np.uint8, count=stride * (a.count - 1) + item, offset=offset)
        if stride == item:
            arr = raw.view(dt).reshape(a.count, nc)
        else:
            arr = np.lib.stride_tricks.as_strided(raw, (a.count, item), (stride, 1)).copy()
            arr = arr.view(dt).reshape(a.count, nc)
        if normalize_ints and dt.kind == "u":
            return arr.astype(np.float32) / np.iinfo(dt).max
        return arr.copy()

    def image(self, i: int) -> np.ndarray | None:
        import cv2

        img = self.gltf.images[i]
        if img.bufferView is not None:
            data, offset, _ = self.view(img.bufferView)
            blob = data[offset:offset + self.gltf.bufferViews[img.bufferView].byteLength]
        elif img.uri and img.uri.startswith("data:"):
            blob = base64.b64decode(img.uri.split(",", 1)[1])
        elif img.uri:
            f = self.path.parent / img.uri
            if not f.exists():
                raise AvatarError(f"{self.path}: texture file {img.uri} is missing")
            blob = f.read_bytes()
        else:
            return None
        a = cv2.imdecode(np.frombuffer(blob, np.uint8), cv2.IMREAD_UNCHANGED)
        if a is None:
            raise AvatarError(f"{self.path}: texture {i} cannot be decoded")
        if a.ndim == 2:
            a = cv2.cvtColor(a, cv2.COLOR_GRAY2BGRA)
        elif a.shape[2] == 3:
            a = cv2.cvtColor(a, cv2.COLOR_BGR2BGRA)
        return cv2.cvtColor(a, cv2.COLOR_BGRA2RGBA)


def _normalise_name(name: str) -> str:
    n = name.split(":")[-1]
    n = re.sub(r"^(J_Bip_|J_)", "", n)
    n = re.sub(r"^(C_|L_|R_)", lambda m: {"C_": "", "L_": "left", "R_": "right"}[m.group(1)], n)
    n = n.replace("_", "").replace(".", "").replace(" ", "").lower()
    for side, word in (("l", "left"), ("r", "right")):
        if n.endswith(side) and len(n) > 1 and n[:-1] in ("upperarm", "lowerarm", "hand", "upperleg", "lowerleg",
                                                           "foot", "shoulder", "thigh", "calf", "forearm"):
            n = word + n[:-1]
    return n


def _humanoid(gltf, path: Path) -> tuple[dict[str, int], str]:
    ext = gltf.extensions or {}
    if "VRMC_vrm" in ext:
        bones = ext["VRMC_vrm"].get("humanoid", {}).get("humanBones", {})
        return {k: int(v["node"]) for k, v in bones.items() if isinstance(v, dict) and "node" in v}, "VRM 1.0"
    if "VRM" in ext:
        bones = ext["VRM"].get("humanoid", {}).get("humanBones", [])
        return {b["bone"]: int(b["node"]) for b in bones if isinstance(b, dict) and b.get("node", -1) >= 0}, "VRM 0.x"
    found: dict[str, int] = {}
    for i, node in enumerate(gltf.nodes):
        h = _ALIASES.get(_normalise_name(node.name or ""))
        if h and h not in found:
            found[h] = i
    return found, "glTF"


def _check_glb(path: Path, data: bytes) -> None:
    """A binary glTF's header and chunk lengths against the file's size (a cut file fails here)."""
    import struct

    if len(data) < 12:
        raise AvatarError(f"{path}: truncated GLB file ({len(data)} bytes, shorter than its header)")
    _, version, length = struct.unpack_from("<4sII", data, 0)
    if version != 2:
        raise AvatarError(f"{path}: not a readable glTF/GLB/VRM file (GLB version {version}; 2 is supported)")
    if len(data) < length:
        raise AvatarError(f"{path}: truncated GLB file ({len(data)} of {length} bytes)")
    pos = 12
    while pos < length:
        if pos + 8 > length:
            raise AvatarError(f"{path}: corrupt GLB file (a chunk header is cut at byte {pos})")
        size, _ = struct.unpack_from("<II", data, pos)
        if pos + 8 + size > length:
            raise AvatarError(f"{path}: corrupt GLB file (a chunk of {size} bytes runs past the end)")
        pos += 8 + size


def load_avatar(path: str | Path) -> Avatar:
    """Load a skinned glTF/GLB/VRM avatar; raises AvatarError (one line) on bad input,
    truncated or corrupt files included."""
    path = Path(path).expanduser()
    try:
        return _load_avatar(path)
    except AvatarError:
        raise
    except (ValueError, IndexError, KeyError, TypeError, AttributeError, OverflowError, MemoryError) as e:
        # a corrupt file that passed the header checks: an accessor or index that points nowhere
        raise AvatarError(f"{path}: corrupt glTF/GLB/VRM file ({type(e).__name__}: {str(e)[:80]})") from None


def _load_avatar(path: Path) -> Avatar:
    import pygltflib

    if not path.exists():
        raise AvatarError(f"{path}: avatar file not found")
    if path.is_dir():
        raise AvatarError(f"{path}: is a folder, not an avatar file")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise AvatarError(f"{path}: cannot read ({e.strerror})") from None
    if not data:
        raise AvatarError(f"{path}: empty file")
    binary = data[:4] == b"glTF"  # .glb and .vrm are binary glTF; .gltf is JSON
    if binary:
        _check_glb(path, data)
    try:
        with warnings.catch_warnings():  # pygltflib warns (besides raising) on corrupt headers
            warnings.simplefilter("ignore")
            gltf = pygltflib.GLTF2().load_binary(str(path)) if binary else pygltflib.GLTF2().load_json(str(path))
    except Exception as e:  # noqa: BLE001 - pygltflib raises many kinds on corrupt files
        raise AvatarError(f"{path}: not a readable glTF/GLB/VRM file ({type(e).__name__})") from None
    if gltf is None or not gltf.nodes:
        raise AvatarError(f"{path}: not a readable glTF/GLB/VRM file (no nodes)")
    unsupported = sorted(set(gltf.extensionsRequired or []) - SUPPORTED_EXTENSIONS)
    if unsupported:
        raise AvatarError(f"{path}: needs the unsupported glTF extension {', '.join(unsupported)}")
    if not gltf.skins:
        raise AvatarError(f"{path}: the model has no skin (it is not rigged), so it cannot be posed")
    humanoid, kind = _humanoid(gltf, path)
    missing = [b for b in REQUIRED if b not in humanoid]
    if missing:
        what = "humanoid bones" if kind.startswith("VRM") else "bones with humanoid names"
        raise AvatarError(f"{path}: {kind} avatar is missing required {what}: {', '.join(missing)}")
    reader = _Reader(gltf, path)
    n_nodes = len(gltf.nodes)
    parents = np.full(n_nodes, -1, dtype=np.int64)
    for i, node in enumerate(gltf.nodes):
        for c in node.children or []:
            parents[c] = i
    rest_local = np.stack([_node_matrix(nd) for nd in gltf.nodes])
    joint_nodes: list[int] = []
    ibms: list[np.ndarray] = []
    skin_base: dict[int, int] = {}
    for s, skin in enumerate(gltf.skins):
        skin_base[s] = len(joint_nodes)
        if skin.inverseBindMatrices is not None:
            m = reader.accessor(skin.inverseBindMatrices).astype(np.float64).reshape(-1, 4, 4).transpose(0, 2, 1)
        else:
            m = np.broadcast_to(np.eye(4), (len(skin.joints), 4, 4))
        joint_nodes += list(skin.joints)
        ibms += list(m)
    pos, nrm, col, uv, jnt, wts, idx, parts = [], [], [], [], [], [], [], []
    textures: list[np.ndarray] = []
    tex_of_image: dict[int, int] = {}
    n_vert = n_idx = 0
    for ni, node in enumerate(gltf.nodes):
        if node.mesh is None:
            continue
        if node.skin is None:  # rigid mesh: one matrix placing it with its node
            rigid = len(joint_nodes)
            joint_nodes.append(ni)
            ibms.append(np.eye(4))
        for prim in gltf.meshes[node.mesh].primitives:
            if prim.mode not in (None, 4):
                continue  # points and lines are not drawn
            at = prim.attributes
            p = reader.accessor(at.POSITION).astype(np.float32)
            v = len(p)
            pos.append(p)
            nrm.append(reader.accessor(at.NORMAL).astype(np.float32) if at.NORMAL is not None
                       else np.zeros((v, 3), np.float32))
            c = (reader.accessor(at.COLOR_0, True).astype(np.float32) if at.COLOR_0 is not None
                 else np.ones((v, 4), np.float32))
            if c.shape[1] == 3:
                c = np.concatenate([c, np.ones((v, 1), np.float32)], 1)
            col.append(c)
            uv.append(reader.accessor(at.TEXCOORD_0, True).astype(np.float32) if at.TEXCOORD_0 is not None
                      else np.zeros((v, 2), np.float32))
            if node.skin is not None and at.JOINTS_0 is not None and at.WEIGHTS_0 is not None:
                j = reader.accessor(at.JOINTS_0).astype(np.int64) + skin_base[node.skin]
                w = reader.accessor(at.WEIGHTS_0, True).astype(np.float32)
            else:
                j = np.full((v, 4), rigid if node.skin is None else skin_base[node.skin], np.int64)
                w = np.tile(np.array([1, 0, 0, 0], np.float32), (v, 1))
            w = w / np.maximum(w.sum(1, keepdims=True), 1e-8)
            jnt.append(j)
            wts.append(w)
            ii = reader.accessor(prim.indices).reshape(-1).astype(np.uint32) if prim.indices is not None \
                else np.arange(v, dtype=np.uint32)
            idx.append(ii + n_vert)
            texture, color = -1, (1.0, 1.0, 1.0, 1.0)
            if prim.material is not None:
                pbr = gltf.materials[prim.material].pbrMetallicRoughness
                if pbr is not None:
                    color = tuple(pbr.baseColorFactor or (1.0, 1.0, 1.0, 1.0))
                    if pbr.baseColorTexture is not None:
                        src = gltf.textures[pbr.baseColorTexture.index].source
                        if src is not None:
                            if src not in tex_of_image:
                                img = reader.image(src)
                                tex_of_image[src] = len(textures) if img is not None else -1
                                if img is not None:
                                    textures.append(img)
                            texture = tex_of_image[src]
            parts.append(Part(n_idx, len(ii), texture, color))
            n_vert += v
            n_idx += len(ii)
    if not pos:
        raise AvatarError(f"{path}: the model has no triangle meshes")
    positions = np.concatenate(pos)
    normals = np.concatenate(nrm)
    indices = np.concatenate(idx)
    joints_all = np.concatenate(jnt)
    if indices.size and int(indices.max()) >= len(positions):
        raise AvatarError(f"{path}: corrupt mesh (a triangle index points past the {len(positions)} vertices)")
    if joints_all.size and (int(joints_all.max()) >= len(joint_nodes) or int(joints_all.min()) < 0):
        raise AvatarError(f"{path}: corrupt skin (a vertex names a joint the skin does not have)")
    if not np.isfinite(positions).all():
        raise AvatarError(f"{path}: corrupt mesh (vertex positions that are not numbers)")
    if not np.any(normals):
        normals = _face_normals(positions, indices)
    turn = np.eye(4)
    if kind == "VRM 0.x":  # VRM 0.x avatars face -Z
        turn[:3, :3] = np.diag([-1.0, 1.0, -1.0])
    return Avatar(str(path), positions, normals, np.concatenate(col), np.concatenate(uv),
                  joints_all, np.concatenate(wts), indices, parts, textures,
                  [nd.name or f"node{i}" for i, nd in enumerate(gltf.nodes)], parents, rest_local,
                  np.array(joint_nodes, dtype=np.int64), np.stack(ibms), humanoid, turn, kind)


def _face_normals(v: np.ndarray, idx: np.ndarray) -> np.ndarray:
    f = idx.reshape(-1, 3)
    n = np.zeros_like(v, dtype=np.float64)
    fn = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    for k in range(3):
        np.add.at(n, f[:, k], fn)
    return (n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)).astype(np.float32)


DEFAULT_AVATAR = Path(__file__).resolve().parent.parent / "assets" / "avatar.glb"


def load_avatar_or_default(path: str | Path | None, warn=print) -> Avatar:
    """The user's avatar, or the default one with a one-line message when it cannot be used."""
    if path:
        p = Path(path).expanduser()
        if not p.is_absolute():
            p = DEFAULT_AVATAR.parent.parent / p
        try:
            return load_avatar(p)
        except AvatarError as e:
            warn(f"{e}; using the default avatar")
    return load_avatar(DEFAULT_AVATAR)
