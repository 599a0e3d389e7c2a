"""The paper's architectural points, checked on the built modules (Geng et al. 2018)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from facewarp.networks.hrhgan import GlobalDiscriminator, HrhGenerator, LocalDiscriminator, complete
from facewarp.networks.wggan import ResBlock, ResizeConv, WgDiscriminator, WgGenerator


def _trace_resolutions(model, x):
    """Spatial size of every Conv2d / ConvTranspose2d output during a forward pass."""
    sizes = []
    hooks = [m.register_forward_hook(lambda m, i, o: sizes.append((type(m).__name__, o.shape[-1])))
             for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    with torch.no_grad():
        y = model(*x) if isinstance(x, tuple) else model(x)
    for h in hooks:
        h.remove()
    return y, sizes


def test_wggan_generator_paper_points():
    g = WgGenerator(5, 3, base=16)
    x = torch.rand(2, 5, 128, 128)
    y, sizes = _trace_resolutions(g, x)
    assert y.shape == (2, 3, 128, 128)
    # down-sampling only to 1/4
    assert min(s for _, s in sizes) == 128 // 4
    # bottleneck of exactly 4 residual blocks, all at 1/4 resolution
    blocks = [m for m in g.modules() if isinstance(m, ResBlock)]
    assert len(blocks) == 4 and len(list(g.res.children())) == 4
    # no transposed convolutions; up-sampling by resize-convolution (nearest x2 + conv)
    assert not any(isinstance(m, nn.ConvTranspose2d) for m in g.modules())
    assert sum(isinstance(m, ResizeConv) for m in g.modules()) == 2
    # leaky ReLU non-linearity, sigmoid output in [0, 1]
    assert isinstance(g.act, nn.LeakyReLU) and not any(isinstance(m, (nn.ReLU, nn.BatchNorm2d)) for m in g.modules())
    assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0
    big = WgGenerator(5, 3, base=16, residual=False)
    nn.init.constant_(big.out.bias, 50.0)
    assert torch.allclose(big(x), torch.ones_like(y))  # sigmoid saturates at 1, nothing else after it


def test_wggan_skip_connections_feed_the_last_two_convs():
    g = WgGenerator(5, 3, base=8)
    b = 8
    # dec2 (second-to-last conv) sees cat(dec1, enc2); out (last conv) sees cat(dec2, enc1)
    assert g.dec2.conv.in_channels == g.dec1.conv.out_channels + g.enc2.out_channels == 4 * b
    assert g.out.in_channels == g.dec2.conv.out_channels + g.enc1.out_channels == 2 * b
    # the skips carry information: perturbing enc1's output changes the result
    x = torch.rand(1, 5, 32, 32)
    with torch.no_grad():
        nn.init.normal_(g.out.weight, std=0.05)
        y0 = g(x)
        h = g.enc1.register_forward_hook(lambda m, i, o: o + 1.0)
        y1 = g(x)
        h.remove()
    assert not torch.allclose(y0, y1)


def test_wggan_generator_starts_as_identity_on_the_warped_face():
    # documented deviation: residual-in-logit output, zero-initialised last layer
    g = WgGenerator(5, 3, base=8)
    x = torch.rand(1, 5, 32, 32) * 0.9 + 0.05
    with torch.no_grad():
        assert torch.allclose(g(x), x[:, :3], atol=1e-5)


def test_wggan_discriminator_paper_points():
    d = WgDiscriminator(256, 5, base=64)
    convs = [m for m in d.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 6
    assert d.feature_dim == 32768  # the paper's feature vector
    linears = [m for m in d.modules() if isinstance(m, nn.Linear)]
    assert len(linears) == 1 and linears[0].in_features == 32768 and linears[0].out_features == 1
    assert convs[0].in_channels == 5  # image + displacement map
    small = WgDiscriminator(64, 5, base=4)
    out = small(torch.rand(3, 3, 64, 64), torch.randn(3, 2, 64, 64))
    assert out.shape == (3,)
    # no output non-linearity: the critic is unbounded
    nn.init.constant_(small.fc.bias, -1000.0)
    assert float(small(torch.rand(1, 3, 64, 64), torch.randn(1, 2, 64, 64))) < -900


def test_hrhgan_generator_iizuka_and_progressive_growth():
    g = HrhGenerator(width=16)
    dil = [m.dilation[0] for m in g.modules() if isinstance(m, nn.Conv2d) and m.dilation[0] > 1]
    assert dil == [2, 4, 8, 16]  # Iizuka's dilated middle
    y, sizes = _trace_resolutions(g, torch.rand(1, 4, 64, 64))
    assert y.shape == (1, 3, 64, 64) and min(s for _, s in sizes) == 16
    assert g.stem[0].in_channels == 4  # RGB + mask
    body = [p.clone() for p in g.body.parameters()]
    g.grow()
    # the body keeps its trained weights; stem = 256x256x4 -> 16 -> 32 -> (stride 2) 64 channels
    assert all(torch.equal(a, b) for a, b in zip(body, g.body.parameters()))
    stem_convs = [m for m in g.stem if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.stride[0]) for c in stem_convs] == [(4, 4, 1), (4, 8, 1), (8, 16, 2)]
    head = [m for m in g.head if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    assert isinstance(head[0], nn.ConvTranspose2d) and head[-1].out_channels == 3
    y2, sizes2 = _trace_resolutions(g, torch.rand(1, 4, 128, 128))
    assert y2.shape == (1, 3, 128, 128) and min(s for _, s in sizes2) == 16  # body still at 1/4 of 64
    assert isinstance(g.head[-1], nn.Sigmoid)
    with pytest.raises(RuntimeError):
        g.grow()


def test_hrhgan_paper_widths_at_256():
    g = HrhGenerator(width=64, grown=True)
    convs = [m for m in g.stem if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [(4, 16), (16, 32), (32, 64)]
    head = [m for m in g.head if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    assert [(c.in_channels, c.out_channels) for c in head] == [(64, 32), (32, 16), (16, 3)]


def test_hrhgan_completion_keeps_known_pixels_and_discriminators_grow():
    g = HrhGenerator(width=8)
    img = torch.rand(2, 3, 32, 32)
    mask = torch.zeros(2, 1, 32, 32)
    mask[:, :, 10:20, 8:24] = 1
    out = complete(g, img, mask)
    assert torch.equal(out[mask.expand_as(out) == 0], img[mask.expand_as(img) == 0])
    dg, dl = GlobalDiscriminator(64, 8), LocalDiscriminator(32, 8)
    assert dg(torch.rand(2, 3, 64, 64)).shape == (2,) and dl(torch.rand(2, 3, 32, 32)).shape == (2,)
    fc = dg.fc.weight.clone()
    dg.grow()
    dl.grow()
    assert dg(torch.rand(2, 3, 128, 128)).shape == (2,) and dl(torch.rand(2, 3, 64, 64)).shape == (2,)
    assert torch.equal(fc, dg.fc.weight)
