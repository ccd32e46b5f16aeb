"""Backbones in plain torch (no torchvision): ResNet-50 (the paper's), ResNet-18,
and a MobileNetV2-style real-time network. Each maps (B, 3, S, S) images to
(B, C, S/32, S/32) features and exposes ``out_channels``."""
from __future__ import annotations

from torch import nn


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


def build_backbone(name: str) -> nn.Module:
    """``resnet50`` | ``resnet18`` | ``mobilenet`` (MobileNetV2, width 1.0)."""
    if name == "resnet50":
        return ResNet(Bottleneck, (3, 4, 6, 3))
    if name == "resnet18":
        return ResNet(BasicBlock, (2, 2, 2, 2))
    if name == "mobilenet":
        return MobileNetV2(1.0)
    raise ValueError(f"unknown backbone {name!r}; choose resnet50, resnet18 or mobilenet")


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


