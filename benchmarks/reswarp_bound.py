"""How good can vanilla ResWarp possibly be? The least-squares bound at 4K.

Vanilla ResWarp (the paper's, box-average down, bilinear up) outputs
``up(result) + warp(plate - up(L))``. Against the directly warped plate its error is
``up(result) - warp(up(L))`` (bilinear warping is linear), so the best *any* low-res result can
do is the least-squares projection of ``warp(up(L))`` onto the span of bilinear up-sampling:
``result* = (U^T U)^-1 U^T warp(up(L))``. Bilinear up-sampling is separable, ``U = U_y (x) U_x``,
so the projection is two small dense solves per channel.

Same set-up as ``tests/test_warp_reswarp.py`` (photo cubic-up-scaled to 3840 wide, centre
3840 x 2160, smooth random field of 3 % of the frame on the 128^2 grid). Prints, per photo,
vanilla and multiscale with the 128^2 bilinear low-res warp, and vanilla with ``result*``.

    python benchmarks/reswarp_bound.py [PHOTO ...]     (default: skimage's astronaut)
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

from facewarp.kernels import reswarp as rw
from facewarp.kernels.sampling import resample_bilinear, resample_field, warp_bilinear

W, H, LOW = 3840, 2160, 128


def psnr(a, b):
    return float(10 * np.log10(1.0 / np.mean((a.astype(np.float64) - b) ** 2)))


def smooth_field(w, h, amplitude_frac, seed, sigma_frac=0.1):
    rng = np.random.default_rng(seed)
    n = cv2.GaussianBlur(rng.standard_normal((h, w, 2)).astype(np.float32), (0, 0), sigma_frac * max(w, h))
    n /= np.abs(n).max(axis=(0, 1))
    n[..., 0] *= amplitude_frac * w
    n[..., 1] *= amplitude_frac * h
    return n


def upsampling_matrix(n_out: int, n_in: int) -> np.ndarray:
    """The (n_out x n_in) matrix of our bilinear up-sampling along one axis."""
    eye = np.eye(n_in, dtype=np.float32)
    return resample_bilinear(eye[None, :, :], n_out, 1)[0].astype(np.float64)  # rows: fine samples


def ls_result(target_hd: np.ndarray) -> np.ndarray:
    ux, uy = upsampling_matrix(W, LOW), upsampling_matrix(H, LOW)
    px = np.linalg.solve(ux.T @ ux, ux.T)
    py = np.linalg.solve(uy.T @ uy, uy.T)
    return np.stack([py @ target_hd[..., c].astype(np.float64) @ px.T for c in range(target_hd.shape[2])],
                    -1).astype(np.float32)


def main(paths: list[str]) -> None:
    photos = []
    if not paths:
        from skimage import data

        photos.append(("astronaut", data.astronaut().astype(np.float32) / 255))
    for p in paths:
        photos.append((Path(p).name, cv2.imread(p, cv2.IMREAD_COLOR)[..., ::-1].astype(np.float32) / 255))
    f_low = smooth_field(LOW, LOW, 0.03, seed=7)
    f_hd = resample_field(f_low, W, H)
    for name, photo in photos:
        side = cv2.resize(photo, (W, W), interpolation=cv2.INTER_CUBIC)
        plate = np.ascontiguousarray(side[(W - H) // 2:(W - H) // 2 + H])
        ref = warp_bilinear(plate, f_hd, device="cpu")
        row = [name]
        for ms in (False, True):
            levels = rw.decompose(plate, (LOW, LOW), ms)
            res = warp_bilinear(levels[-1], f_low, device="cpu")
            out = rw.reswarp(plate, res, f_low, multiscale=ms, device="cpu", levels=levels)
            row.append(f"{'multiscale' if ms else 'vanilla'} {psnr(out, ref):.2f} dB")
        low = rw.decompose(plate, (LOW, LOW), False)[-1]
        best = ls_result(warp_bilinear(resample_bilinear(low, W, H), f_hd, device="cpu"))
        out = rw.reswarp(plate, best, f_low, multiscale=False, device="cpu")
        row.append(f"vanilla with the least-squares-optimal low-res result (the bound) {psnr(out, ref):.2f} dB")
        print(" | ".join(row), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
