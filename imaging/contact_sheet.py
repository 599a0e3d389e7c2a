"""Contact sheets: one row per frame, one column per stage (input plate, landmarks drawn on it,
the warp's displacement, output), display-referred sRGB, written as PNG.

Arrays in, arrays (or an atomically written file) out. Pixels are scene-linear float32 (the
``Image`` convention) and are down-scaled in linear light (``cv2.INTER_AREA``) before the sRGB
transfer; landmarks are continuous plate coordinates (pixel centres at +0.5, see
:mod:`facewarp.core.conventions`); displacements are pixels of the plate, ``D[y, x] = (dx, dy)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from facewarp.core.color import linear_to_srgb
from facewarp.core.files import atomic_output

COLUMNS = ("input", "landmarks", "displacement", "output")
LABEL_HEIGHT = 18  # the strip above each row that names frame and column (labels=True)
_BLANK = 64  # grey of a tile with nothing to show (no face found, no displacement)


@dataclass
class SheetRow:
    """What one row shows. ``plate``/``output`` are H x W x >=3 linear float; ``landmarks`` N x 2
    plate pixels or None (no face); ``displacement`` H x W x 2 pixels or None (none written)."""

    frame: int
    plate: np.ndarray
    output: np.ndarray
    landmarks: np.ndarray | None = None
    displacement: np.ndarray | None = None


def tile_size(width: int, height: int, tile_width: int) -> tuple[int, int]:
    """(w, h) of a tile for a ``width`` x ``height`` picture, ``tile_width`` wide (aspect kept)."""
    tile_width = max(1, min(int(tile_width), int(width)))
    return tile_width, max(1, round(height * tile_width / width))


def display_tile(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Linear RGB (any size) -> uint8 sRGB tile of ``size`` (w, h), down-scaled in linear light."""
    rgb = np.asarray(pixels, np.float32)
    rgb = rgb[..., :3] if rgb.ndim == 3 and rgb.shape[2] >= 3 else np.repeat(rgb.reshape(*rgb.shape[:2], 1), 3, 2)
    if (rgb.shape[1], rgb.shape[0]) != tuple(size):
        rgb = cv2.resize(rgb, tuple(size), interpolation=cv2.INTER_AREA)
    rgb = np.nan_to_num(rgb, nan=0.0, posinf=1.0, neginf=0.0)
    return (linear_to_srgb(rgb) * 255.0 + 0.5).astype(np.uint8)


def draw_points(tile: np.ndarray, points: np.ndarray, scale: float, color=(0, 255, 0), radius: float = 1.0) -> np.ndarray:
    """A copy of uint8 ``tile`` with ``points`` (continuous coordinates of the full-size picture,
    multiplied by ``scale`` into the tile) drawn as filled dots."""
    out = np.ascontiguousarray(tile.copy())
    shift = 4  # sub-pixel positions: cv2 takes fixed-point coordinates with 4 fractional bits
    r = max(1, round(radius * (1 << shift)))
    for x, y in np.asarray(points, np.float64).reshape(-1, 2):
        if not (np.isfinite(x) and np.isfinite(y)):
            continue
        # continuous -> cv2 (integer pixel centres): subtract 0.5 after scaling
        c = (round((x * scale - 0.5) * (1 << shift)), round((y * scale - 0.5) * (1 << shift)))
        cv2.circle(out, c, r, color, thickness=-1, lineType=cv2.LINE_AA, shift=shift)
    return out


def landmarks_tile(pixels: np.ndarray, points: np.ndarray, size: tuple[int, int], zoom: float = 1.5) -> np.ndarray:
    """uint8 tile of ``size`` with ``points`` drawn. With ``zoom`` > 0 the tile is a close-up: the
    box of the points enlarged ``zoom`` times (at the tile's aspect, kept inside the picture),
    resampled from the full-size pixels so a dense mesh stays readable; 0 shows the whole picture."""
    h, w = pixels.shape[:2]
    tw, th = size
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    finite = pts[np.all(np.isfinite(pts), axis=1)]
    if zoom <= 0 or not len(finite):
        return draw_points(display_tile(pixels, size), pts, tw / w, radius=0.6)
    lo, hi = finite.min(0), finite.max(0)
    centre = (lo + hi) / 2
    cw = max((hi[0] - lo[0]) * zoom, (hi[1] - lo[1]) * zoom * tw / th, 8.0)
    cw = min(cw, w, h * tw / th)
    ch = cw * th / tw
    x0 = float(np.clip(centre[0] - cw / 2, 0, w - cw))
    y0 = float(np.clip(centre[1] - ch / 2, 0, h - ch))
    s = tw / cw
    # continuous crop -> tile: t = (p - origin) * s; cv2's affine maps integer pixel centres
    m = np.array([[s, 0, (0.5 - x0) * s - 0.5], [0, s, (0.5 - y0) * s - 0.5]], np.float64)
    rgb = np.asarray(pixels, np.float32)[..., :3]
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    crop = cv2.warpAffine(rgb, m, (tw, th), flags=interp, borderMode=cv2.BORDER_REPLICATE) if s >= 1 else \
        cv2.resize(rgb[int(y0):int(np.ceil(y0 + ch)), int(x0):int(np.ceil(x0 + cw))], (tw, th), interpolation=interp)
    return draw_points(display_tile(crop, size), pts - (x0, y0), s, radius=0.7)


def displacement_rgb(field: np.ndarray, max_px: float | None = None) -> np.ndarray:
    """Flow colouring of a displacement field: hue = direction, saturation = magnitude relative to
    ``max_px`` (default: the field's own maximum), white where nothing moves. float32 display RGB
    in [0, 1] (already display-referred: not to be passed through an sRGB transfer again)."""
    d = np.nan_to_num(np.asarray(field, np.float32)[..., :2])
    mag = np.hypot(d[..., 0], d[..., 1])
    top = float(mag.max()) if max_px is None else float(max_px)
    hsv = np.empty((*d.shape[:2], 3), np.float32)
    hsv[..., 0] = (np.degrees(np.arctan2(d[..., 1], d[..., 0])) + 360.0) % 360.0
    hsv[..., 1] = np.clip(mag / top, 0.0, 1.0) if top > 0 else 0.0
    hsv[..., 2] = 1.0
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def displacement_tile(field: np.ndarray, size: tuple[int, int], max_px: float | None = None) -> np.ndarray:
    """uint8 tile of :func:`displacement_rgb` (the field is down-scaled first, values stay in
    full-size pixels)."""
    d = np.asarray(field, np.float32)[..., :2]
    if (d.shape[1], d.shape[0]) != tuple(size):
        d = cv2.resize(d, tuple(size), interpolation=cv2.INTER_AREA)
    return (np.clip(displacement_rgb(d, max_px), 0, 1) * 255.0 + 0.5).astype(np.uint8)


def _label(strip: np.ndarray, text: str, x: int) -> None:
    cv2.putText(strip, text, (x + 4, LABEL_HEIGHT - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (230, 230, 230), 1,
                cv2.LINE_AA)


def contact_sheet(rows: list[SheetRow], tile_width: int = 320, labels: bool = True,
                  max_displacement: float | None = None, zoom: float = 1.5) -> np.ndarray:
    """uint8 H x W x 3 sRGB sheet: ``len(rows)`` rows of the :data:`COLUMNS` tiles, each row under
    a label strip of :data:`LABEL_HEIGHT` pixels when ``labels``. Width ``4 * tile_w``, height
    ``len(rows) * (tile_h + label)``. All rows share one displacement scale (``max_displacement``
    pixels, default the largest displacement of any row) so their colours compare. The landmarks
    tile is a close-up of the face (``zoom``, see :func:`landmarks_tile`; 0: the whole plate)."""
    if not rows:
        raise ValueError("a contact sheet needs at least one row")
    h, w = rows[0].plate.shape[:2]
    tw, th = tile_size(w, h, tile_width)
    if max_displacement is None:
        mags = [float(np.nanmax(np.hypot(r.displacement[..., 0], r.displacement[..., 1])))
                for r in rows if r.displacement is not None and r.displacement.size]
        max_displacement = max(mags, default=0.0)
    lh = LABEL_HEIGHT if labels else 0
    sheet = np.zeros((len(rows) * (th + lh), len(COLUMNS) * tw, 3), np.uint8)
    for i, row in enumerate(rows):
        if row.plate.shape[:2] != (h, w) or row.output.shape[:2] != (h, w):
            raise ValueError(f"frame {row.frame}: plate {row.plate.shape[:2]} and output {row.output.shape[:2]} "
                             f"must both be {(h, w)} like the first row's plate")
        plate = display_tile(row.plate, (tw, th))
        blank = np.full_like(plate, _BLANK)
        marks = landmarks_tile(row.plate, row.landmarks, (tw, th), zoom) if row.landmarks is not None else blank
        disp = displacement_tile(row.displacement, (tw, th), max_displacement) if row.displacement is not None else blank
        tiles = (plate, marks, disp, display_tile(row.output, (tw, th)))
        y = i * (th + lh)
        for j, tile in enumerate(tiles):
            sheet[y + lh:y + lh + th, j * tw:(j + 1) * tw] = tile
        if labels:
            names = (f"{row.frame} input", "landmarks (close-up)" if row.landmarks is not None and zoom > 0 else "landmarks" if row.landmarks is not None else "landmarks: no face",
                     f"displacement (max {max_displacement:.1f} px)" if row.displacement is not None
                     else "displacement: none", "output")
            for j, name in enumerate(names):
                _label(sheet[y:y + lh], name, j * tw)
    return sheet


def write_png(path: str, rgb: np.ndarray, *, overwrite: bool = False) -> str:
    """Write uint8 RGB ``rgb`` as a PNG at ``path`` atomically (temp file, then renamed into place;
    an existing file is refused unless ``overwrite``)."""
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"write_png wants uint8 H x W x 3, got {rgb.dtype} {rgb.shape}")
    with atomic_output(path, overwrite) as tmp:
        if not cv2.imwrite(tmp, np.ascontiguousarray(rgb[..., ::-1]), [cv2.IMWRITE_PNG_COMPRESSION, 9]):
            raise OSError(f"could not write PNG {path}")
    return path
