"""SkeletonNet (Yoshiyasu et al.): bone rotation regressor + cross heatmap regressor.

Frames (see ``docs/conventions.md`` and ``docs/network.md``):

* Rotations are absolute rotations of the rest skeleton's bone vectors in the
  world frame (Y-up; identity = T-pose facing the camera). FK joints are
  root-relative, metres, world axes.
* Heatmaps live in the crop: the xy map has image x to the right and y down;
  the zy map has depth (camera z, away from the camera) to the right and y
  down. Map coordinates times the stride are input pixels.
* Final joints are root-relative and scaled (paper Eq. 1) so the bone lengths
  sum to the rest skeleton's total, in world axes inside the network; the
  exported model also gives them in camera axes.

Ablation switches (paper Tables 3 and 4), one flag each, same code path:
``mode`` (``both`` | ``rot`` = rotation regressor only | ``hm`` = heatmaps
only), ``gram_schmidt`` (False = "w/o GS"), ``global_rot`` (``class`` |
``regress`` = "GlobalReg"), ``rot_repr`` (``matrix`` | ``aa`` | ``fkaa`` |
``absolute`` = "AbsRotReg").
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine import skeleton as S
from engine.settings import SettingsError, check_fields, knob
from trainer import layers as L
from trainer.backbones import BACKBONES, build_backbone, conv_bn, init_weights, load_pretrained

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

MODES = ("both", "rot", "hm")
#: focal length of the default crop camera, in input sizes (a crop spanning 1/1.2 of the distance)
DEFAULT_FOCAL = 1.2
#: Eq. 1's lower bound on the summed bone length, as a fraction of the input size (in pixels at the
#: root's depth): about half of a person who fills the crop
MIN_FILL = 1.0
GLOBAL_ROT = ("class", "regress")
#: BlazePose's heatmap logits are scaled by this where they start our xy maps: its soft-argmax then reads
#: within 1.1-1.3 % of the crop of its own regressed landmarks at 224-256 px (1.3-2.9 % at scale 1)
BP_LOGIT_SCALE = 2.0
#: channels of the reduced stride-32 grid the rotation branch reads on a BlazePose backbone
ROT_GRID_CHANNELS = 48
ROT_REPR = ("matrix", "aa", "fkaa", "absolute")
#: every backbone a config may name (BlazePose's three variants: trainer/blazepose.py)
BACKBONE_NAMES = (*(f"blazepose_{v}" for v in ("full", "lite", "heavy")), *BACKBONES)


@dataclass
class SkeletonNetConfig:
    """The network's architecture: a training config's ``model`` section (``trainer.config``), saved in every
    checkpoint (``trainer.checkpoint``). Fields are ``engine.settings`` knobs, checked when the config is built
    and when an instance is made in code."""
    backbone: str = knob("lite0", choices=BACKBONE_NAMES,
                         doc="blazepose_full | _lite | _heavy: BlazePose's landmark network (trainer/blazepose.py); "
                         "lite0-2: EfficientNet-Lite (ImageNet weights); resnet50 (the paper), resnet18, mobilenet")
    input_size: int = knob(192, range=(32, 1024), doc="square input, pixels, a multiple of 32 (256 in the paper)")
    hg_channels: int = knob(64, range=(2, 2048), doc="channels of the up-sampling layers and the hourglass")
    hg_depth: int = knob(4, range=(1, 8), doc="depth of the hourglass module")
    num_clusters: int = knob(200, range=(1, 100000), doc="K, k-means centres of the global rotation")
    head_hidden: int = knob(1024, range=(1, 65536), doc="hidden units of the rotation heads")
    mode: str = knob("both", choices=MODES, doc="both | rot (rotation regressor only) | hm (heatmaps only)")
    gram_schmidt: bool = knob(True, doc="false: the paper's 'w/o GS' ablation")
    global_rot: str = knob("class", choices=GLOBAL_ROT, doc="class (k-means classes) | regress ('GlobalReg')")
    rot_repr: str = knob("matrix", choices=ROT_REPR, doc="the bone rotations' representation (Table 4)")
    gauss_sigma: float = knob(1.0, range=(0.01, 100.0), doc="Gaussian maps on the first up-sampling layer, pixels")
    gauss_fill: float = knob(0.9, range=(0.01, 1.0), doc="FK skeleton scaled to this share of that layer's width")
    presence: bool = knob(False, doc="a 'person in this crop' logit trained with background crops")

    def __post_init__(self):
        check_fields(self)
        if self.input_size % 32:
            raise SettingsError("SkeletonNetConfig", "input_size", f"= {self.input_size} is not allowed; "
                                "allowed: a multiple of 32")

    @property
    def blazepose(self) -> str:
        """The BlazePose variant of a ``blazepose_*`` backbone, else ''."""
        return self.backbone.split("_", 1)[1] if self.backbone.startswith("blazepose_") else ""

    @property
    def heatmap_size(self) -> int:
        return self.input_size // 4

    @property
    def uses_rotations(self) -> bool:
        return self.mode in ("both", "rot")

    @property
    def uses_heatmaps(self) -> bool:
        return self.mode in ("both", "hm")


class Residual(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.body = nn.Sequential(conv_bn(c, c // 2, 1), conv_bn(c // 2, c // 2, 3), conv_bn(c // 2, c, 1, act=False))

    def forward(self, x):
        return F.relu(x + self.body(x))


class Hourglass(nn.Module):
    """One hourglass module (Newell et al.), recursive, depth ``depth``."""

    def __init__(self, depth: int, c: int):
        super().__init__()
        self.up = Residual(c)
        self.low1 = Residual(c)
        self.low2 = Hourglass(depth - 1, c) if depth > 1 else Residual(c)
        self.low3 = Residual(c)

    def forward(self, x):
        low = self.low3(self.low2(self.low1(F.max_pool2d(x, 2))))
        return self.up(x) + F.interpolate(low, size=(x.shape[-2], x.shape[-1]), mode="nearest")


def _deconv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


class SkeletonNet(nn.Module):
    def __init__(self, cfg: SkeletonNetConfig, cluster_centres: np.ndarray | None = None,
                 skeleton: S.Skeleton | None = None, pretrained: bool = False):
        super().__init__()
        self.cfg = cfg
        sk = skeleton or S.Skeleton.default()
        self.register_buffer("bone_vectors", torch.tensor(sk.bone_vectors, dtype=torch.float32))
        self.reference_length = float(sk.total_length)
        k = cfg.num_clusters
        if cluster_centres is None:
            cluster_centres = np.broadcast_to(np.eye(3), (k, 3, 3))
        centres = torch.tensor(np.asarray(cluster_centres, dtype=np.float32).reshape(-1, 9))
        if centres.shape[0] != k:
            raise ValueError(f"{centres.shape[0]} cluster centres given, config says num_clusters = {k}")
        self.register_buffer("cluster_centres", centres)  # (K, 9), saved with the model

        if cfg.blazepose:
            # BlazePose's landmark network (trainer/blazepose.py): its stride-32 encoder feeds the rotation
            # branch, its stride-4 decoder features and heatmap logits feed the hourglass, and its heatmaps
            # start the xy maps of the 12 joints that are one of its landmarks (bp_xy)
            from trainer.blazepose import BlazePoseNet, joint_sources

            self.backbone = BlazePoseNet(cfg.blazepose, taps=("encoder", "decoder", "heatmaps"))
            self.backbone.mean, self.backbone.std = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)  # RGB in [0, 1] as it is
            c = self.backbone.channels["encoder"]
            self._bp_sources = joint_sources()
        else:
            self.backbone = build_backbone(cfg.backbone)
            c = self.backbone.out_channels
        # the backbone's own input normalisation (ImageNet statistics, or Lite's 127/128)
        mean, std = getattr(self.backbone, "mean", IMAGENET_MEAN), getattr(self.backbone, "std", IMAGENET_STD)
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1))
        if cfg.uses_rotations:
            g_out = k if cfg.global_rot == "class" else 9
            per_bone = 3 if cfg.rot_repr in ("aa", "fkaa") else 9
            if cfg.blazepose:
                # BlazePose's frozen encoder, averaged over the image, barely tells one orientation from another
                # (measured: the global class stayed at chance): the head reads a reduced stride-32 grid of the
                # encoder and of the heatmap logits (which joint is where: left/right, front/back) instead
                grid = cfg.input_size // 32
                grid_in = c + self.backbone.channels["heatmaps"]
                self.rot_reduce = nn.Sequential(nn.Conv2d(grid_in, ROT_GRID_CHANNELS, 1, bias=False),
                                                nn.BatchNorm2d(ROT_GRID_CHANNELS), nn.ReLU(inplace=True))
                self.rot_head = nn.Sequential(nn.Flatten(), nn.Linear(ROT_GRID_CHANNELS * grid * grid, cfg.head_hidden),
                                              nn.ReLU(inplace=True))
            else:
                self.rot_head = nn.Sequential(nn.Flatten(), nn.Linear(c, cfg.head_hidden), nn.ReLU(inplace=True))
            self.global_out = nn.Linear(cfg.head_hidden, g_out)
            self.bone_out = nn.Linear(cfg.head_hidden, S.NUM_BONES * per_bone)
        if cfg.presence:
            self.presence_out = nn.Sequential(nn.Flatten(), nn.Linear(c, 128), nn.ReLU(inplace=True), nn.Linear(128, 1))
        if cfg.uses_heatmaps and cfg.blazepose:
            d = cfg.hg_channels
            n_dec, n_hm = self.backbone.channels["decoder"], self.backbone.channels["heatmaps"]
            self.bp_in = nn.Sequential(nn.Conv2d(n_dec + n_hm, d, 1, bias=False), nn.BatchNorm2d(d),
                                       nn.ReLU(inplace=True))
            self.bp_xy = nn.Conv2d(n_hm, S.NUM_JOINTS, 1)
            if cfg.mode == "both":
                self.gauss_conv = nn.Sequential(nn.Conv2d(S.NUM_JOINTS, d, 3, 1, 1, bias=False), nn.BatchNorm2d(d))
            self.hourglass = Hourglass(cfg.hg_depth, d)
            self.hm_out = nn.Conv2d(d, 2 * S.NUM_JOINTS, 1)
        elif cfg.uses_heatmaps:
            d = cfg.hg_channels
            self.up1, self.up2, self.up3 = _deconv(c, d), _deconv(d, d), _deconv(d, d)
            if cfg.mode == "both":
                self.gauss_conv = nn.Sequential(nn.Conv2d(S.NUM_JOINTS, d, 3, 1, 1, bias=False), nn.BatchNorm2d(d))
            self.hourglass = Hourglass(cfg.hg_depth, d)
            self.hm_out = nn.Conv2d(d, 2 * S.NUM_JOINTS, 1)
        if not cfg.blazepose:  # BlazePose's weights stay as read from its file
            init_weights(self.backbone)
        init_weights(self._heads())
        self._init_heads()
        if pretrained:  # after init_weights, which would overwrite them
            load_pretrained(self.backbone, cfg.backbone)

    def _heads(self) -> nn.ModuleList:
        return nn.ModuleList(m for name, m in self.named_children() if name != "backbone")

    def _init_heads(self):
        """Start every rotation output at the identity (rest pose)."""
        if self.cfg.uses_heatmaps:  # heatmap logits start flat: uniform maps, joints at the centre
            nn.init.normal_(self.hm_out.weight, std=1e-3)
            nn.init.zeros_(self.hm_out.bias)
        if self.cfg.uses_heatmaps and self.cfg.blazepose:
            # the xy maps of the joints that are one BlazePose landmark start as that landmark's heatmap
            # (logits x BP_LOGIT_SCALE: sharper maps read out closer to its landmarks, docs/network.md)
            nn.init.zeros_(self.bp_xy.weight)
            nn.init.zeros_(self.bp_xy.bias)
            for j, lm in self._bp_sources.items():
                self.bp_xy.weight.data[j, lm] = BP_LOGIT_SCALE
        if not self.cfg.uses_rotations:
            return
        for lin in (self.global_out, self.bone_out):
            nn.init.normal_(lin.weight, std=1e-3)
            nn.init.zeros_(lin.bias)
        if self.cfg.global_rot == "regress":
            self.global_out.bias.data.copy_(torch.eye(3).reshape(9))
        if self.cfg.rot_repr in ("matrix", "absolute"):
            self.bone_out.bias.data.copy_(torch.eye(3).reshape(9).repeat(S.NUM_BONES))
        if self.cfg.mode == "both":
            nn.init.zeros_(self.gauss_conv[1].weight)  # Gaussian prior fades in while training

    # ------------------------------------------------------------------ pieces

    def _orth(self, m: torch.Tensor) -> torch.Tensor:
        return L.gram_schmidt(m) if self.cfg.gram_schmidt else m

    def _rotation_branch(self, feat: torch.Tensor) -> dict:
        """``feat``: the backbone's stride-32 features (B, C, S/32, S/32); for a BlazePose backbone the encoder
        and its heatmap logits pooled to that grid, concatenated."""
        cfg, b = self.cfg, feat.shape[0]
        if cfg.blazepose:
            h = self.rot_head(self.rot_reduce(feat))
        else:
            h = self.rot_head(F.adaptive_avg_pool2d(feat, 1))
        g = self.global_out(h)
        out = {}
        if cfg.global_rot == "class":
            out["global_logits"] = g
            p = torch.softmax(g, dim=-1)
            r_g = (p @ self.cluster_centres).view(b, 3, 3)  # R^g' = C^g p^g
        else:
            r_g = g.view(b, 3, 3)
        r_g = self._orth(r_g)
        raw = self.bone_out(h)
        if cfg.rot_repr in ("aa", "fkaa"):
            m = L.axis_angle_to_matrix(raw.view(b, S.NUM_BONES, 3))
        else:
            m = self._orth(raw.view(b, S.NUM_BONES, 3, 3))
        if cfg.rot_repr == "fkaa":  # parent-relative rotations composed down the chain
            r_init = L.local_to_absolute(m, r_g)
        elif cfg.rot_repr == "absolute":
            r_init = m
        else:  # bones relative to the root: R = R^g R^b
            r_init = r_g[:, None] @ m
        out["global_rotation"] = r_g
        out["bone_rotations"] = r_g.transpose(-1, -2)[:, None] @ r_init  # R^b
        out["rotations_init"] = r_init
        return out

    def _decode_maps(self, hm: torch.Tensor):
        j = S.NUM_JOINTS
        hxy, hzy = L.heatmap_probabilities(hm[:, :j]), L.heatmap_probabilities(hm[:, j:])
        xy = L.soft_argmax(hxy)
        zy = L.soft_argmax(hzy)
        x, y, z = xy[..., 0], 0.5 * (xy[..., 1] + zy[..., 1]), zy[..., 0]
        return hxy, hzy, torch.stack([x, y, z], dim=-1)

    # ------------------------------------------------------------------ forward

    def default_camera(self, b: int, device=None, dtype=torch.float32) -> torch.Tensor:
        """(B, 3) crop intrinsics (focal, cx, cy) in input pixels when none are given: a centred crop
        whose side spans ``DEFAULT_FOCAL`` times less than the distance to the person."""
        s = self.cfg.input_size
        cam = torch.tensor([DEFAULT_FOCAL * s, (s - 1) / 2, (s - 1) / 2], device=device, dtype=dtype)
        return cam.expand(b, 3)

    def forward(self, images: torch.Tensor, camera: torch.Tensor | None = None) -> dict:
        """images: (B, 3, S, S) RGB in [0, 1]; camera: (B, 3) the crop's intrinsics (focal, cx, cy)
        in input pixels (``default_camera`` when None). Returns a dict of tensors (see module doc)."""
        cfg = self.cfg
        b, size = images.shape[0], cfg.input_size
        if camera is None:
            camera = self.default_camera(b, images.device, images.dtype)
        if cfg.blazepose:
            taps = self.backbone(images)
            feat = taps["encoder"]
        else:
            feat = self.backbone((images - self.mean) / self.std)
        out: dict = {}
        fk = None
        if cfg.presence:
            out["presence_logit"] = self.presence_out(F.adaptive_avg_pool2d(feat, 1))[:, 0]
        if cfg.uses_rotations:
            if cfg.blazepose:
                # stride 4 -> the encoder's stride 32 (a fixed kernel exports; adaptive pooling does not)
                hm_grid = F.avg_pool2d(taps["heatmaps"], 8)
                out.update(self._rotation_branch(torch.cat([feat, hm_grid], 1)))
            else:
                out.update(self._rotation_branch(feat))
            fk = L.forward_kinematics(out["rotations_init"], self.bone_vectors)
            out["joints_fk"] = fk
        if cfg.uses_heatmaps:
            up = self.bp_in(torch.cat([taps["decoder"], taps["heatmaps"]], 1)) if cfg.blazepose else self.up1(feat)
            if cfg.mode == "both":
                proj = torch.stack([fk[..., 0], -fk[..., 1]], dim=-1)  # world -> image axes
                pts = L.fit_to_map(proj, up.shape[-1], cfg.gauss_fill)
                up = up + self.gauss_conv(L.gaussian_maps(pts, up.shape[-1], cfg.gauss_sigma))
            if cfg.blazepose:  # already at stride 4
                hm = self.hm_out(self.hourglass(up))
                bpx = self.bp_xy(taps["heatmaps"])
                # the zy maps share y with the xy maps (soft-argmax y is their mean): they start from the xy
                # prior's row marginal (log-sum-exp over x), flat in depth
                top = bpx.amax(dim=-1, keepdim=True)
                rows = (top + torch.log(torch.exp(bpx - top).sum(dim=-1, keepdim=True))).expand_as(bpx)  # logsumexp
                hm = torch.cat([hm[:, :S.NUM_JOINTS] + bpx, hm[:, S.NUM_JOINTS:] + rows], 1)
            else:
                hm = self.hm_out(self.hourglass(self.up3(self.up2(up))))
            hxy, hzy, coords = self._decode_maps(hm)
            out["heatmaps_xy"], out["heatmaps_zy"], out["coords_map"] = hxy, hzy, coords
            stride = size / hm.shape[-1]
            out["joints_2d"] = (coords[..., :2] + 0.5) * stride - 0.5
            cam = L.decode_perspective(coords, camera, stride, hm.shape[-1])
            world = torch.stack([cam[..., 0], -cam[..., 1], -cam[..., 2]], dim=-1)  # engine.frames.camera_to_world
            # Eq. 1; the bound: a quarter of a person filling the crop (in units of the root's depth)
            joints = L.scale_to_length(world, self.reference_length, MIN_FILL * size / camera[:, 0])
            refined = L.bone_vectors_of(joints)
            if cfg.mode == "both":
                d_r = L.rotation_between(L.bone_vectors_of(fk), refined)
                out["rotations"] = d_r @ out["rotations_init"]
            else:
                d_r = L.rotation_between(self.bone_vectors.expand_as(refined), refined)
                out["rotations"] = d_r
            out["joints"] = joints
            # a map as sharp as the target Gaussian (sigma 1.5 px) peaks at 1 / (2 pi 1.5^2)
            peak = hxy.flatten(2).max(dim=-1).values * (2 * np.pi * 1.5 ** 2)
            out["confidence"] = peak.clamp(0.0, 1.0).mean(dim=-1)
        else:
            out["joints"] = L.scale_to_length(fk, self.reference_length)
            out["rotations"] = out["rotations_init"]
            proj = torch.stack([fk[..., 0], -fk[..., 1]], dim=-1)
            out["joints_2d"] = L.fit_to_map(proj, size, cfg.gauss_fill)
            if cfg.global_rot == "class":
                out["confidence"] = torch.softmax(out["global_logits"], -1).max(dim=-1).values
            else:
                out["confidence"] = torch.ones(b, dtype=images.dtype, device=images.device)
        if cfg.presence:
            out["confidence"] = torch.sigmoid(out["presence_logit"])
        return out


class ExportWrapper(nn.Module):
    """The exported graph, model contract ``engine.backends.MODEL_CONTRACT`` (docs/conventions.md).

    Inputs: ``image`` (B, 3, S, S) RGB 0..1; ``camera`` (B, 3) the crop's intrinsics (focal, cx,
    cy) in input pixels (the engine derives them from the crop box and the frame's field of view).
    Outputs: joints_3d (B, 16, 3) metres (Eq. 1 scale), world axes (Y-up, +Z towards the camera),
    pelvis at the origin; rotations (B, 15, 3, 3) absolute bone rotations, world axes;
    pelvis_rotation (B, 3, 3) the pelvis (root) orientation, world axes; joints_2d (B, 16, 2) input
    pixels; confidence (B,) the presence probability (0..1).
    """

    INPUTS = ("image", "camera")
    OUTPUTS = ("joints_3d", "rotations", "pelvis_rotation", "joints_2d", "confidence")

    def __init__(self, net: SkeletonNet):
        super().__init__()
        self.net = net

    def forward(self, image: torch.Tensor, camera: torch.Tensor):
        o = self.net(image, camera)
        rot = o["rotations"]
        # the rigid pelvis: the orthonormalised sum of the two hip bones' rotations (equal to both
        # when they agree; engine.skeleton.pelvis_rotation is its quaternion-mean counterpart)
        pelvis = L.gram_schmidt(rot[:, S.BONE_INDEX["r_hip"]] + rot[:, S.BONE_INDEX["l_hip"]])
        joints = o["joints"]
        if not self.net.cfg.uses_heatmaps:  # the rotation-only ablation ignores the camera: keep the input
            joints = joints + 0.0 * camera[:, None, :1]
        return joints, rot, pelvis, o["joints_2d"], o["confidence"]

    def example_inputs(self, batch: int = 1, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """Random images and a plausible crop camera, for tracing and parity checks."""
        s = self.net.cfg.input_size
        x = torch.rand(batch, 3, s, s, generator=torch.Generator().manual_seed(seed))
        return x, self.net.default_camera(batch).contiguous()


def config_dict(cfg: SkeletonNetConfig) -> dict:
    return asdict(cfg)
