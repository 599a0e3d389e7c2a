"""kernels.distance: the exact Euclidean distance transform, against brute force and OpenCV's precise
one, and the same on any thread count (a farm renders chunks on machines with other core counts)."""

from __future__ import annotations

import cv2
import numba
import numpy as np
import pytest

from facewarp.kernels.distance import distance_to_zero
from facewarp.warping.region import face_region


def brute_force(image: np.ndarray) -> np.ndarray:
    zy, zx = np.nonzero(image == 0)
    yy, xx = np.mgrid[: image.shape[0], : image.shape[1]]
    if len(zy) == 0:
        return np.full(image.shape, np.inf, np.float32)
    d2 = (yy[..., None] - zy) ** 2 + (xx[..., None] - zx) ** 2
    return np.sqrt(d2.min(axis=-1).astype(np.float64)).astype(np.float32)


@pytest.mark.parametrize("seed", range(6))
def test_equals_brute_force_on_random_masks(seed):
    rng = np.random.default_rng(seed)
    h, w = rng.integers(1, 40, 2)
    image = (rng.random((h, w)) > rng.uniform(0.02, 0.9)).astype(np.uint8)
    assert np.array_equal(distance_to_zero(image), brute_force(image))


def test_no_zero_pixel_is_infinitely_far_and_shapes_are_checked():
    assert np.isinf(distance_to_zero(np.ones((3, 4), np.uint8))).all()
    assert distance_to_zero(np.zeros((0, 5), np.uint8)).shape == (0, 5)
    with pytest.raises(ValueError, match="2-D"):
        distance_to_zero(np.ones((2, 2, 2)))


def test_agrees_with_opencvs_precise_transform_to_rounding():
    mask = np.full((300, 500), 255, np.uint8)
    cv2.fillConvexPoly(mask, np.array([[120, 40], [400, 90], [330, 260], [90, 200]], np.int32), 0)
    ours = distance_to_zero(mask)
    theirs = cv2.distanceTransform(mask, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    assert np.allclose(ours, theirs, rtol=1e-6, atol=0)


@pytest.fixture
def restore_threads():
    cv_before, nb_before = cv2.getNumThreads(), numba.get_num_threads()
    yield
    cv2.setNumThreads(cv_before)
    numba.set_num_threads(nb_before)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_face_region_matte_is_the_same_on_any_thread_count(seed, restore_threads):
    rng = np.random.default_rng(seed)
    pts = rng.uniform([900, 500], [2900, 1600]) + rng.normal(0, 150 + 100 * seed, (478, 2))
    mattes = []
    for threads in (1, 2, 8, 1):
        cv2.setNumThreads(threads)
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
        mattes.append(face_region(pts, 3840, 2160, max_displacement=20.0).matte)
    for m in mattes[1:]:
        assert np.array_equal(m, mattes[0])
