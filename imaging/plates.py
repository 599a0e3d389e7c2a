"""Plate file I/O through OpenImageIO: reading to linear float32, atomic writing.

Shared by PlateRead and PlateWrite (and by any node that writes files).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import OpenImageIO as oiio

from facewarp.core.color import from_linear, to_linear
from facewarp.core.errors import InputError, OutputExistsError, RenderError
from facewarp.core.files import atomic_output
from facewarp.core.types import Image

SCENE_LINEAR_EXTS = {".exr", ".sxr", ".mxr", ".hdr"}
WRITE_FORMATS = {".exr": "openexr", ".dpx": "dpx", ".tif": "tiff", ".tiff": "tiff", ".png": "png",
                 ".jpg": "jpeg", ".jpeg": "jpeg"}
# Attributes that describe the file's own encoding; never copied onto another file.
_ENCODING_ATTRS = ("oiio:", "compression", "openexr:", "tiff:", "dpx:", "png:", "jpeg:", "Exif:", "planarconfig",
                   "PixelAspectRatio", "ImageDescription_", "XResolution", "YResolution", "ResolutionUnit",
                   "IPTC:", "ICCProfile", "smpte:TimeCode_", "facewarp:transfer")


def _ext(path: str) -> str:
    return os.path.splitext(path)[1].lower()


def file_transfer(path: str, spec) -> str:
    """The transfer function a file's pixels are encoded with (for ``colorspace: auto``)."""
    if _ext(path) in SCENE_LINEAR_EXTS:
        return "linear"
    ours = spec.getattribute("facewarp:transfer")
    if isinstance(ours, str) and ours in ("linear", "srgb", "rec709", "cineon"):
        return ours
    if _ext(path) in (".dpx", ".cin"):
        transfer = str(spec.getattribute("dpx:Transfer") or "").lower()
        if "log" in transfer or "printing density" in transfer:
            return "cineon"
        if "linear" in transfer:
            return "linear"
        return "rec709"
    if spec.format in (oiio.FLOAT, oiio.HALF, oiio.DOUBLE):
        return "linear"
    return "srgb"


def _metadata(spec) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for attr in spec.extra_attribs:
        value = attr.value
        if isinstance(value, (str, int, float)):
            out[attr.name] = value
        elif isinstance(value, (tuple, list)) and all(isinstance(v, (int, float)) for v in value) and len(value) <= 16:
            out[attr.name] = list(value)
    return out


def _split_alpha(channels) -> tuple[list[int], int | None]:
    alpha = next((i for i, c in enumerate(channels) if c.split(".")[-1] in ("A", "alpha", "a")), None)
    return [i for i in range(len(channels)) if i != alpha], alpha


def read_plate(path: str, channels: str = "auto", colorspace: str = "auto") -> Image:
    """Read one image file as a linear float32 ``Image`` over its display window."""
    if not os.path.isfile(path):
        raise InputError("file does not exist", file=path)
    # Ask for the file's own (unassociated) alpha so decoding to linear happens before we
    # premultiply: premultiplying in encoded space and linearising afterwards is wrong.
    config = oiio.ImageSpec()
    config.attribute("oiio:UnassociatedAlpha", 1)
    buf = oiio.ImageBuf(path, 0, 0, config)
    spec = buf.spec()
    if buf.has_error or spec.nchannels == 0:
        raise InputError(f"cannot read image: {buf.geterror() or oiio.geterror() or 'unknown format'}", file=path)
    names = list(spec.channelnames)
    if channels == "auto":
        wanted = [c for c in ("R", "G", "B", "A") if c in names] or names[: min(4, len(names))]
        if len(wanted) == 1 and len(names) == 1:
            wanted = names
    else:
        wanted = [c.strip() for c in channels.split(",") if c.strip()]
        missing = [c for c in wanted if c not in names]
        if missing:
            raise InputError(f"no channel {', '.join(missing)} (file has {', '.join(names)})", file=path, param="channels")
    # Read the whole data window, then place it in the display window (zeros outside).
    data = buf.get_pixels(oiio.FLOAT)
    if data is None or getattr(data, "size", 0) == 0:
        raise InputError(f"cannot decode pixels: {buf.geterror()}", file=path)
    data = np.asarray(data, np.float32).reshape(spec.height, spec.width, spec.nchannels)
    if (spec.x, spec.y, spec.width, spec.height) != (spec.full_x, spec.full_y, spec.full_width, spec.full_height):
        full = np.zeros((spec.full_height, spec.full_width, spec.nchannels), np.float32)
        x0, y0 = spec.x - spec.full_x, spec.y - spec.full_y
        sx0, sy0 = max(0, -x0), max(0, -y0)
        dx0, dy0 = max(0, x0), max(0, y0)
        w = min(spec.width - sx0, spec.full_width - dx0)
        h = min(spec.height - sy0, spec.full_height - dy0)
        if w > 0 and h > 0:
            full[dy0:dy0 + h, dx0:dx0 + w] = data[sy0:sy0 + h, sx0:sx0 + w]
        data = full
    pixels = np.ascontiguousarray(data[..., [names.index(c) for c in wanted]])
    transfer = file_transfer(path, spec) if colorspace == "auto" else colorspace
    colour, alpha = _split_alpha(wanted)
    # DPX has no flag for it; RGBA DPX from film pipelines carries unassociated alpha.
    unassociated = bool(spec.getattribute("oiio:UnassociatedAlpha")) or _ext(path) == ".dpx"
    if transfer != "linear":
        # Alpha is stored linearly in every format we read; only colour channels are decoded.
        pixels[..., colour] = to_linear(pixels[..., colour], transfer)
    if alpha is not None and unassociated:
        pixels[..., colour] *= pixels[..., alpha][..., None]  # graph images are premultiplied
    md = _metadata(spec)
    md["facewarp:source"] = path
    md["facewarp:source_transfer"] = transfer
    return Image(pixels, tuple(wanted), "lin_rec709", md)


def write_plate(path: str, image: Image, *, pixel_type: str = "half", compression: str = "zip",
                bit_depth: int = 0, colorspace: str = "auto", overwrite: bool = False,
                metadata: bool = True) -> str:
    """Write ``image`` atomically. Returns the final path."""
    ext = _ext(path)
    if ext not in WRITE_FORMATS:
        raise InputError(f"cannot write '{ext}' files (supported: {', '.join(sorted(WRITE_FORMATS))})", file=path)
    if not overwrite and os.path.exists(path):
        raise OutputExistsError("exists (use --overwrite to replace it or --skip-existing to keep it)", file=path)
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    pixels = image.pixels
    channels = list(image.channels)
    if ext == ".exr":
        fmt, transfer = (oiio.HALF if pixel_type == "half" else oiio.FLOAT), "linear"
    else:
        transfer = {"auto": {".dpx": "cineon"}.get(ext, "srgb")}.get(colorspace, colorspace)
        depth = bit_depth or {".dpx": 10, ".tif": 16, ".tiff": 16, ".png": 16, ".jpg": 8, ".jpeg": 8}[ext]
        if ext in (".jpg", ".jpeg") and depth != 8:
            raise InputError("JPEG is 8-bit only", file=path, param="bit_depth")
        if ext == ".dpx" and depth not in (8, 10, 12, 16):
            raise InputError("DPX bit depth must be 8, 10, 12 or 16", file=path, param="bit_depth")
        if ext in (".png",) and depth not in (8, 16):
            raise InputError("PNG bit depth must be 8 or 16", file=path, param="bit_depth")
        if ext in (".tif", ".tiff") and depth == 32:
            fmt = oiio.FLOAT
        else:
            fmt = oiio.UINT8 if depth == 8 else oiio.UINT16
        if ext in (".dpx", ".png", ".jpg", ".jpeg") and len(channels) not in (1, 3, 4):
            raise InputError(f"{ext} needs 1, 3 or 4 channels, image has {len(channels)} ({', '.join(channels)})", file=path)
        pixels = pixels.copy()
        colour, alpha = _split_alpha(channels)
        if alpha is not None:
            # Integer formats store unassociated alpha: un-premultiply in linear, then encode.
            a = pixels[..., alpha][..., None]
            pixels[..., colour] = np.where(a > 0, pixels[..., colour] / np.where(a > 0, a, 1), 0)
            unassociated = True
        else:
            unassociated = False
        pixels[..., colour] = from_linear(pixels[..., colour], transfer)
        if fmt != oiio.FLOAT:
            pixels = np.clip(pixels, 0.0, 1.0)
            if ext == ".dpx" and depth in (10, 12):
                # OpenImageIO packs 10/12-bit DPX by truncating its 16-bit conversion; rounding
                # to the file's own code values first makes the stored code the nearest one.
                levels = (1 << depth) - 1
                pixels = np.round(pixels * levels) / levels
    spec = oiio.ImageSpec(image.width, image.height, len(channels), fmt)
    spec.channelnames = tuple(channels)
    if ext == ".exr":
        spec.attribute("compression", compression)
    elif ext == ".dpx":
        spec.attribute("oiio:BitsPerSample", int(depth))
        if transfer == "cineon":
            spec.attribute("dpx:Transfer", "Printing density")
        elif transfer == "linear":
            spec.attribute("dpx:Transfer", "Linear")
    if ext != ".exr":
        spec.attribute("facewarp:transfer", transfer)
        if unassociated:
            spec.attribute("oiio:UnassociatedAlpha", 1)
    if metadata:
        for key, value in image.metadata.items():
            if key.startswith(_ENCODING_ATTRS) or key.startswith("facewarp:source"):
                continue
            if isinstance(value, (str, int, float)):
                spec.attribute(key, value)
    with atomic_output(path, overwrite) as tmp:
        out = oiio.ImageOutput.create(tmp)
        if out is None:
            raise RenderError(f"no writer for '{ext}': {oiio.geterror()}", file=path)
        if not out.open(tmp, spec):
            raise RenderError(f"cannot open for writing: {out.geterror()}", file=path)
        ok = out.write_image(np.ascontiguousarray(pixels, dtype=np.float32))
        closed = out.close()
        if not ok or not closed:
            raise RenderError(f"write failed: {out.geterror()}", file=path)
    return path
