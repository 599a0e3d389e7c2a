"""WgGAN networks (Geng et al. 2018, "Refining warped face with wg-GAN").

Generator (the "face refinement network"):
  * encoder-decoder that down-samples only to 1/4 (two stride-2 convolutions);
  * bottleneck of 4 residual blocks (He et al. 2016);
  * up-sampling by resize-convolution (nearest x2 then 3x3 conv; no transposed convolutions,
    which cause uneven overlap / checkerboard artefacts);
  * skip connections between the first two and the last two convolution layers (Isola et al.):
    enc2 -> dec2 (second-to-last conv) and enc1 -> out (last conv), by concatenation;
  * leaky ReLU everywhere, sigmoid on the output.
  Input: warped crop with the inner mouth removed (3) + normalised displacement map (2).
Discriminator: 6 convolutions -> feature vector -> one fully connected layer, no output
non-linearity (a WGAN critic). Input: image (3) + displacement map (2).

Not specified by the paper, chosen here (documented deviations): channel widths (``base``;
default 32 for the generator, 64 for the critic so that a 256^2 input gives the paper's
32768-dimensional feature: 5 stride-2 convs to 8x8, then a stride-1 conv, 512 channels),
kernel sizes (7x7 first, 4x4 stride-2 down, 3x3 elsewhere incl. the last: a 7x7 last layer
has a fan-in so large that Adam steps saturated the sigmoid in per-shot runs), no normalisation layers
(none is mentioned; a WGAN critic must not use batch norm anyway), leaky-ReLU slope 0.2.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

SLOPE = 0.2


def _act():
    return nn.LeakyReLU(SLOPE)


class ResBlock(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.conv1 = nn.Conv2d(ch, ch, 3, padding=1)
        self.conv2 = nn.Conv2d(ch, ch, 3, padding=1)
        self.act = _act()

    def forward(self, x):
        return x + self.conv2(self.act(self.conv1(x)))


class ResizeConv(nn.Module):
    """Nearest-neighbour x2 up-sampling followed by a 3x3 convolution (Odena et al. 2016)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class WgGenerator(nn.Module):
    downsample_factor = 4

    def __init__(self, in_ch: int = 5, out_ch: int = 3, base: int = 32, n_res: int = 4, residual: bool = True):
        super().__init__()
        self.config = dict(in_ch=in_ch, out_ch=out_ch, base=base, n_res=n_res, residual=residual)
        self.residual = residual
        b = base
        self.act = _act()
        self.enc1 = nn.Conv2d(in_ch, b, 7, padding=3)  # H
        self.enc2 = nn.Conv2d(b, 2 * b, 4, stride=2, padding=1)  # H/2
        self.enc3 = nn.Conv2d(2 * b, 4 * b, 4, stride=2, padding=1)  # H/4
        self.res = nn.Sequential(*[ResBlock(4 * b) for _ in range(n_res)])
        self.dec1 = ResizeConv(4 * b, 2 * b)  # H/2
        self.dec2 = ResizeConv(4 * b, b)  # cat(dec1, enc2) -> H
        self.out = nn.Conv2d(2 * b, out_ch, 3, padding=1)  # cat(dec2, enc1)
        if residual:
            # DEVIATION (documented): the last layer predicts a correction added, before the
            # sigmoid, to the logit of the warped input, and starts at zero, so the untrained
            # network is the identity on the warped face. The paper's G is sigmoid(conv(...));
            # with a per-shot budget of minutes (not days) learning the identity through the
            # encoder-decoder first wastes most of it. Output range and sigmoid are unchanged.
            nn.init.zeros_(self.out.weight)
            nn.init.zeros_(self.out.bias)

    def forward(self, x):
        e1 = self.act(self.enc1(x))
        e2 = self.act(self.enc2(e1))
        e3 = self.act(self.enc3(e2))
        r = self.res(e3)
        d1 = self.act(self.dec1(r))
        d2 = self.act(self.dec2(torch.cat([d1, e2], 1)))
        y = self.out(torch.cat([d2, e1], 1))
        if self.residual:
            x_img = x[:, : y.shape[1]].clamp(1e-3, 1.0 - 1e-3)
            y = y + torch.log(x_img) - torch.log1p(-x_img)
        return torch.sigmoid(y)


class WgDiscriminator(nn.Module):
    def __init__(self, size: int = 256, in_ch: int = 5, base: int = 64):
        super().__init__()
        if size % 32:
            raise ValueError(f"WgDiscriminator needs a size divisible by 32, got {size}")
        self.config = dict(size=size, in_ch=in_ch, base=base)
        b = base
        chans = [in_ch, b, 2 * b, 4 * b, 8 * b, 8 * b]
        layers = []
        for cin, cout in zip(chans[:-1], chans[1:]):  # 5 stride-2 convs: size -> size/32
            layers += [nn.Conv2d(cin, cout, 4, stride=2, padding=1), _act()]
        layers += [nn.Conv2d(8 * b, 8 * b, 3, padding=1), _act()]  # 6th conv
        self.features = nn.Sequential(*layers)
        self.feature_dim = 8 * b * (size // 32) ** 2  # 32768 at size 256, base 64
        self.fc = nn.Linear(self.feature_dim, 1)

    def forward(self, image, disp):
        f = self.features(torch.cat([image, disp], 1))
        return self.fc(f.flatten(1)).squeeze(1)  # no output non-linearity (WGAN critic)
