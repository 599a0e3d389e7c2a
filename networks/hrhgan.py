"""HrhGAN networks (Geng et al. 2018, "Hidden region hallucination with hrh-GAN"): the
completion network of Iizuka et al. 2017 with a global and a local discriminator, trained
progressively 128^2 -> 256^2.

Completion network (Iizuka et al. Table 1, channel widths x ``width/64``):
  body (runs at half the input resolution in the 256 model):
    conv3 s2 128, conv3 128, conv3 s2 256, conv3 256, conv3 256,
    dilated conv3 256 (d = 2, 4, 8, 16), conv3 256, conv3 256,
    deconv4 s2 128, conv3 128, deconv4 s2 64
  128 model: stem  = conv5 (4 -> 64) at 128^2;  head = conv3 64 -> 32, conv3 32 -> 3, sigmoid.
  256 model (the paper's progressive step): the stem is replaced by the convolution train
    256x256x4 -> 256x256x16 -> 256x256x32 -> 128x128x64, and the head likewise by
    128x128x64 -> 256x256x32 (deconv) -> 256x256x16 -> 256x256x3; the body keeps its trained
    weights.
  Input is RGB + the hole mask (4 channels, as in Iizuka; the paper writes x3, the mask
  channel is implicit there). Hole pixels are filled with a constant before the network.
Discriminators (Iizuka: 5x5 stride-2 convs + FC), kept SEPARATE (one FC -> logit each)
because the loss is written as a global GAN term plus a local GAN term; Iizuka concatenate
both features before one FC. They grow like the generator: the 256 model replaces the input
conv (3 -> 64, s2) by (3 -> 32, s2) -> (32 -> 64, s2), so body and FC sizes do not change.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def _c(cin, cout, k=3, s=1, d=1):
    return [nn.Conv2d(cin, cout, k, stride=s, padding=d * (k // 2), dilation=d), nn.ReLU()]


class HrhGenerator(nn.Module):
    def __init__(self, width: int = 64, grown: bool = False):
        super().__init__()
        w = width
        self.config = dict(width=width, grown=grown)
        self.width = w
        self.grown = False
        self.stem = nn.Sequential(*_c(4, w, 5))
        body = _c(w, 2 * w, 3, 2) + _c(2 * w, 2 * w) + _c(2 * w, 4 * w, 3, 2) + _c(4 * w, 4 * w) + _c(4 * w, 4 * w)
        for d in (2, 4, 8, 16):
            body += _c(4 * w, 4 * w, 3, 1, d)
        body += _c(4 * w, 4 * w) + _c(4 * w, 4 * w)
        body += [nn.ConvTranspose2d(4 * w, 2 * w, 4, 2, 1), nn.ReLU()] + _c(2 * w, 2 * w)
        body += [nn.ConvTranspose2d(2 * w, w, 4, 2, 1), nn.ReLU()]
        self.body = nn.Sequential(*body)
        self.head = nn.Sequential(*_c(w, w // 2), nn.Conv2d(w // 2, 3, 3, padding=1), nn.Sigmoid())
        if grown:
            self.grow()

    def grow(self):
        """128 -> 256: new stem (conv train down to half resolution) and new head (up-sampling
        end); the body's trained weights are kept."""
        if self.grown:
            raise RuntimeError("HrhGenerator is already grown")
        w = self.width
        self.stem = nn.Sequential(*_c(4, w // 4, 5), *_c(w // 4, w // 2), *_c(w // 2, w, 3, 2))
        self.head = nn.Sequential(nn.ConvTranspose2d(w, w // 2, 4, 2, 1), nn.ReLU(), *_c(w // 2, w // 4),
                                  nn.Conv2d(w // 4, 3, 3, padding=1), nn.Sigmoid())
        self.grown = True
        self.config["grown"] = True
        return self

    @property
    def downsample_factor(self) -> int:
        return 8 if self.grown else 4

    def forward(self, x):
        """x: N x 4 x H x W (RGB with the hole filled, mask). Returns the raw completion."""
        return self.head(self.body(self.stem(x)))


def complete(gen: nn.Module, image: torch.Tensor, mask: torch.Tensor, fill: float = 0.5) -> torch.Tensor:
    """Iizuka's usage: fill the hole, run, keep the known pixels: out = x (1 - M) + C(x, M) M."""
    x = image * (1 - mask) + fill * mask
    y = gen(torch.cat([x, mask], 1))
    return image * (1 - mask) + y * mask


class _GrowingDisc(nn.Module):
    def __init__(self, size: int, n_body: int, width: int, grown: bool):
        super().__init__()
        w = width
        self.config = dict(size=size, width=width, grown=grown)
        self.width = w
        self.grown = False
        self.stem = nn.Sequential(nn.Conv2d(3, w, 5, 2, 2), nn.ReLU())
        # fewer stride-2 convs for the small crops of quick tests, so the FC still sees >= 2x2
        n_body = max(1, min(n_body, int(math.log2(size)) - 2))
        chans = [w, 2 * w, 4 * w, 8 * w, 8 * w, 8 * w][: n_body + 1]
        layers = []
        for cin, cout in zip(chans[:-1], chans[1:]):
            layers += [nn.Conv2d(cin, cout, 5, 2, 2), nn.ReLU()]
        self.body = nn.Sequential(*layers)
        # ``size`` is the stage-1 (un-grown) input size; a grown discriminator takes 2 x size
        s = size // 2 ** (n_body + 1)
        if s < 1 or size % 2 ** (n_body + 1):
            raise ValueError(f"discriminator input {size} too small / not divisible by {2 ** (n_body + 1)}")
        self.fc = nn.Linear(chans[-1] * s * s, 1)
        if grown:
            self.grow()

    def grow(self):
        w = self.width
        self.stem = nn.Sequential(nn.Conv2d(3, w // 2, 5, 2, 2), nn.ReLU(), nn.Conv2d(w // 2, w, 5, 2, 2), nn.ReLU())
        self.grown = True
        self.config["grown"] = True
        return self

    def forward(self, x):
        return self.fc(self.body(self.stem(x)).flatten(1)).squeeze(1)  # logit


class GlobalDiscriminator(_GrowingDisc):
    """Whole completed image: stem + 5 stride-2 convs + FC (Iizuka: 6 convs at 256^2).
    ``size``: the stage-1 image size (128 in the paper)."""

    def __init__(self, size: int = 128, width: int = 64, grown: bool = False):
        super().__init__(size, 5, width, grown)


class LocalDiscriminator(_GrowingDisc):
    """Patch of half the image size centred on the hole: stem + 4 stride-2 convs + FC.
    ``size``: the stage-1 patch size (64 for 128^2 images)."""

    def __init__(self, size: int = 64, width: int = 64, grown: bool = False):
        super().__init__(size, 4, width, grown)
