"""The project's conventions, written once. Every node and kernel uses these definitions.

Image orientation and pixel centres
    Arrays are row-major ``H x W x C`` float32, row 0 is the TOP of the picture, x grows to
    the right, y grows downwards (the EXR/OpenImageIO/OpenCV memory order). Continuous pixel
    coordinates put the CENTRE of pixel (row i, column j) at ``(x, y) = (j + 0.5, i + 0.5)``;
    the picture covers ``[0, W] x [0, H]``. Landmarks, mesh projections and displacement
    values are all in these continuous coordinates, in pixels of the image they belong to.

Displacement fields
    A ``Displacement`` is a BACKWARD map in pixels: ``out(p) = src(p + D(p))`` for every
    output pixel centre ``p``. ``D[..., 0]`` is dx (right), ``D[..., 1]`` is dy (down).
    Sampling is bilinear on pixel centres; samples that fall outside the source use the
    border mode (default ``"clamp"``: nearest edge pixel; ``"zero"``: transparent black;
    ``"reflect"``: mirrored about the edge). A validity mask (H x W, float32 in [0, 1])
    says where the field is defined; outside it the field holds a documented fill.
    Scaling a field to another resolution scales its values by the same factor.

Colour
    Inside the graph, images are scene-linear with Rec.709/sRGB primaries ("lin_rec709"),
    float32, with PREMULTIPLIED (associated) alpha when present, as in EXR and Nuke.
    Display-referred files (PNG, JPEG, 8/16-bit TIFF, DPX) are decoded to linear on read and
    encoded on write (see color.py); their unassociated alpha is (un)premultiplied in linear.

3D and cameras
    Mesh vertices are in CAMERA space with the OpenCV axes: x right, y down, z forward
    (away from the camera), units of the model (FLAME: metres). A pinhole camera projects
    ``u = fx * x / z + cx, v = fy * y / z + cy``; a weak-perspective camera projects
    ``u = s * x + tx, v = s * y + ty``. Both give continuous pixel coordinates as above.
    Front faces wind counter-clockwise as seen on screen: their camera-space normal
    ``(b - a) x (c - a)`` points towards the camera, which in (x right, y down) pixel
    coordinates means a NEGATIVE signed area (see ``signed_area_2x``).

Units
    2D quantities are pixels of the image they are attached to; times are frames (ints)
    with the shot's fps on the Context. An image read from a movie carries the file's own
    frame rate in its metadata under ``FPS_KEY`` (frames per second, a float).
"""

from __future__ import annotations

import numpy as np

BORDER_MODES = ("clamp", "zero", "reflect")
WORKING_COLORSPACE = "lin_rec709"
FPS_KEY = "facewarp:fps"  # Image.metadata: the source movie's frame rate (PlateRead sets it)


def pixel_centers(height: int, width: int, dtype=np.float32) -> np.ndarray:
    """H x W x 2 array of the continuous (x, y) coordinates of every pixel centre."""
    xs = np.arange(width, dtype=dtype) + dtype(0.5)
    ys = np.arange(height, dtype=dtype) + dtype(0.5)
    grid = np.empty((height, width, 2), dtype=dtype)
    grid[..., 0] = xs[None, :]
    grid[..., 1] = ys[:, None]
    return grid


def displacement_to_cv2_maps(field: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Absolute sampling maps for ``cv2.remap`` (which puts pixel centres on integers)."""
    h, w = field.shape[:2]
    map_x = field[..., 0] + np.arange(w, dtype=np.float32)[None, :]
    map_y = field[..., 1] + np.arange(h, dtype=np.float32)[:, None]
    return map_x.astype(np.float32, copy=False), map_y.astype(np.float32, copy=False)


def displacement_to_stmap(field: np.ndarray, src_size: tuple[int, int] | None = None,
                          out: np.ndarray | None = None) -> np.ndarray:
    """Nuke STMap: absolute UV in 0..1 with origin bottom-left, float32 H x W x 2.

    ``u = x_src / W_src``, ``v = 1 - y_src / H_src`` where ``(x_src, y_src) = p + D(p)`` in
    continuous coordinates, so the identity map gives ``u = (j + 0.5) / W``.

    Computed in float32 with no full-frame float64 intermediate: ``u = D_x / W + (j + 0.5) / W``,
    the per-column and per-row terms in float64 once, then rounded; the result is within
    ~2 float32 ulps of 1 (<= 2.4e-7) of the float64 formula for any frame size. ``out`` (H x W x
    >= 2 float32, e.g. the first two channels of the node's RGBA-like output) is written in place.
    """
    h, w = field.shape[:2]
    sw, sh = src_size if src_size is not None else (w, h)
    if out is None:
        out = np.empty((h, w, 2), np.float32)
    u0 = ((np.arange(w, dtype=np.float64) + 0.5) / sw).astype(np.float32)
    v0 = (1.0 - (np.arange(h, dtype=np.float64) + 0.5) / sh).astype(np.float32)
    np.multiply(field[..., 0], np.float32(1.0 / sw), out=out[..., 0], casting="same_kind")
    out[..., 0] += u0[None, :]
    np.multiply(field[..., 1], np.float32(-1.0 / sh), out=out[..., 1], casting="same_kind")
    out[..., 1] += v0[:, None]
    return out


def stmap_to_displacement(stmap: np.ndarray, src_size: tuple[int, int] | None = None) -> np.ndarray:
    """Inverse of :func:`displacement_to_stmap`."""
    h, w = stmap.shape[:2]
    sw, sh = src_size if src_size is not None else (w, h)
    st = stmap[..., :2].astype(np.float64)
    pos = np.empty((h, w, 2), np.float64)
    pos[..., 0] = st[..., 0] * sw
    pos[..., 1] = (1.0 - st[..., 1]) * sh
    return (pos - pixel_centers(h, w, np.float64)).astype(np.float32)


def displacement_to_idistort(field: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Nuke IDistort offsets (pixels, y up): ``(dx, -dy)``; ``out`` as in :func:`displacement_to_stmap`."""
    if out is None:
        out = np.empty((*field.shape[:2], 2), np.float32)
    out[..., 0] = field[..., 0]
    np.negative(field[..., 1], out=out[..., 1], casting="same_kind")
    return out


def idistort_to_displacement(offsets: np.ndarray) -> np.ndarray:
    """Inverse of :func:`displacement_to_idistort`."""
    return displacement_to_idistort(offsets)


def signed_area_2x(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Twice the signed area of 2D triangles in pixel coordinates (x right, y down).

    Negative for front faces (counter-clockwise on screen), positive for back faces.
    """
    return (b[..., 0] - a[..., 0]) * (c[..., 1] - a[..., 1]) - (b[..., 1] - a[..., 1]) * (c[..., 0] - a[..., 0])


def affine_to_cv2(matrix: np.ndarray) -> np.ndarray:
    """A 2 x 3 affine map between CONTINUOUS pixel coordinates (centres at +0.5), rewritten
    for OpenCV (``warpAffine``/``transform``), which puts pixel centres on integers.

    ``q = A p + t`` becomes ``q_cv = A p_cv + (t + A @ (0.5, 0.5) - 0.5)``.
    """
    m = np.asarray(matrix, np.float64).reshape(2, 3).copy()
    m[:, 2] = m[:, 2] + m[:, :2] @ np.array([0.5, 0.5]) - 0.5
    return m


def invert_affine(matrix: np.ndarray) -> np.ndarray:
    """Inverse of a 2 x 3 affine map (float64)."""
    m = np.asarray(matrix, np.float64).reshape(2, 3)
    a_inv = np.linalg.inv(m[:, :2])
    return np.concatenate([a_inv, -(a_inv @ m[:, 2])[:, None]], axis=1)
