"""Short CPU training runs on real frames: WgGAN lowers the held-out L1 against the warped
input's own L1, HrhGAN lowers the held-out masked-region MSE against the holed input's.

Real data: ../shared/data/driving/grid_swiz3n.mpg (75 frames of one speaker, frame 0 = rest);
pairs are built exactly as `facewarp train` builds them (the LandmarkTracker path: detector +
face mesh + One-Euro smoothing over the shot; TriangleWarp of the rest frame with LandmarkSpread's
normalised displacement map; FaceCrop); even frames train, odd frames are held out.
Without ../shared: skimage's astronaut under smooth synthetic deformations (see
_wg_data.synthetic_pairs), first 2/3 train, last 1/3 held out.

Reduced settings vs the paper (documented in docs/networks.md): 64^2 crops (paper 256^2),
generator width 16 (ours 32 by default), critic width 8, one critic step per generator step
(paper: WGAN's 5), history of 16, batch 4, no flip augmentation (a flip doubles what a per-shot
net must memorise), an L1-only warm-up, 1700 steps on 2 CPU cores instead of days on a GPU.
FACEWARP_GAN_SEED=<n> runs them with another training seed.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from facewarp.networks.pairs import build_pairs, iter_frames, sequence_fps, synthetic_pairs, track_sequence
from facewarp.networks.training import TrainConfig, Trainer

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("FACEWARP_SHARED", REPO.parent / "shared"))
GRID = SHARED / "data" / "driving" / "grid_swiz3n.mpg"
S = 64
DS = 72  # 9/8 S: room for random crops
CROP_SCALE = 0.62  # tight face framing (FaceCrop scale): the paper's networks see the face region
# WgGAN: 1700 generator steps, the first 1000 on alpha * L1 alone (no critic: ~35 % cheaper per
# step), then 700 with the WGAN critic; Adam betas (0.5, 0.9), lr 1e-3 cosine-decayed to 0.
# Costs no more than the former 1300 adversarial steps (~50 s on 2 idle cores). See docs/networks.md for
# the measurements behind these choices (the former constant lr with beta2 = 0.999 killed the
# generator's sigmoid on some seeds).
WG_STEPS, WG_L1_ONLY, WG_BATCH, WG_LR = 1700, 1000, 4, 1e-3
SEED = int(os.environ.get("FACEWARP_GAN_SEED", "0"))  # the training seed (robustness checks)
HRH_STEPS, HRH_LR = 600, 1e-3


@pytest.fixture(scope="module")
def split():
    if GRID.exists():
        frames, lms = track_sequence(iter_frames(GRID), sequence_fps(GRID))
        pairs = build_pairs(frames, lms, DS, scale=CROP_SCALE * DS / S)
        n = len(pairs.target)
        return "grid", pairs.subset(np.arange(0, n, 2)), pairs.subset(np.arange(1, n, 2))
    from skimage import data

    pairs = synthetic_pairs(data.astronaut()[20:240, 120:340], DS, 30, seed=0)
    return "astronaut", pairs.subset(np.arange(0, 20)), pairs.subset(np.arange(20, 30))


def _centre(a):
    o = (DS - S) // 2
    return a[..., o:o + S, o:o + S]


def test_wggan_short_training_lowers_heldout_l1(split):
    source, train, held = split
    cfg = TrainConfig(kind="wggan", size=S, steps=WG_STEPS, batch=WG_BATCH, lr_g=WG_LR, base_g=16, base_d=8,
                      n_critic=1, history=16, device="cpu", seed=SEED, flip=False, beta2=0.9, lr_decay="cosine",
                      l1_only_steps=WG_L1_ONLY)
    tr = Trainer(cfg, train, None, progress=False).run()
    out = tr.predict(held)
    keep = 1.0 - _centre(held.mouth)
    tgt = _centre(held.target)
    l1_warp = float(np.abs((_centre(held.warped) - tgt) * keep).mean())
    l1_net = float(np.abs((out - tgt) * keep).mean())
    print(f"[{source}, seed {SEED}] held-out L1: warped input {l1_warp:.5f}, WgGAN {l1_net:.5f}, "
          f"reduction {100 * (1 - l1_net / l1_warp):.1f}%")
    assert l1_net <= 0.7 * l1_warp


def test_hrhgan_short_training_lowers_heldout_masked_mse(split):
    source, train, held = split
    cfg = TrainConfig(kind="hrhgan", size=S, steps=HRH_STEPS, batch=8, lr_g=HRH_LR, lr_d=HRH_LR, width=16,
                      grow_at=HRH_STEPS // 2, mse_only_steps=HRH_STEPS // 4, device="cpu", seed=SEED)
    tr = Trainer(cfg, train, None, progress=False).run()
    assert tr.nets["G"].grown  # the progressive step happened
    out = tr.predict(held)
    tgt = _centre(held.target)
    hole = (_centre(held.mouth) > 0.05).astype(np.float32)
    assert hole.sum() > 50
    holed = tgt * (1 - hole) + 0.5 * hole
    mse_in = float((((holed - tgt) * hole) ** 2).sum() / (3 * hole.sum()))
    mse_net = float((((out - tgt) * hole) ** 2).sum() / (3 * hole.sum()))
    print(f"[{source}, seed {SEED}] held-out masked MSE: holed input {mse_in:.5f}, HrhGAN {mse_net:.5f}, "
          f"reduction {100 * (1 - mse_net / mse_in):.1f}%")
    assert mse_net <= 0.7 * mse_in
