"""Plate file I/O through OpenImageIO: reading to linear float32, atomic writing.

Shared by PlateRead and PlateWrite (and by any node that writes files).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Sequence
from typing import Any

import numpy as np
import OpenImageIO as oiio

from facewarp.core import buffers
from facewarp.core.color import from_linear, to_linear
from facewarp.core.errors import InputError, OutputError, OutputExistsError, RenderError
from facewarp.core.files import atomic_output
from facewarp.core.quiet import captured_stderr, strip_ansi
from facewarp.core.types import Image

SCENE_LINEAR_EXTS = {".exr", ".sxr", ".mxr", ".hdr"}
WRITE_FORMATS = {".exr": "openexr", ".dpx": "dpx", ".tif": "tiff", ".tiff": "tiff", ".png": "png",
                 ".jpg": "jpeg", ".jpeg": "jpeg"}
# zlib level of zip/zips EXRs (OpenEXR's default is 4). Level 1 wrote a 4K half RGB render
# ~37 % faster for a ~2 % larger file (benchmarks/bench_io.py); decoding is the same. 0: the library's default.
EXR_ZIP_LEVEL = 1
# Attributes that describe the file's own encoding; never copied onto another file.
_ENCODING_ATTRS = ("oiio:", "compression", "openexr:", "tiff:", "dpx:", "png:", "jpeg:", "Exif:", "planarconfig",
                   "PixelAspectRatio", "ImageDescription_", "XResolution", "YResolution", "ResolutionUnit",
                   "IPTC:", "ICCProfile", "smpte:TimeCode_", "facewarp:transfer")


def _ext(path: str) -> str:
    return os.path.splitext(path)[1].lower()


def _is_float(fmt) -> bool:
    # ``TypeDesc in (oiio.FLOAT, ...)`` is always False (BASETYPE == TypeDesc is not symmetric)
    return any(fmt == base for base in (oiio.HALF, oiio.FLOAT, oiio.DOUBLE))


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
    if _is_float(spec.format):
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


def _detail(*texts: str, path: str = "") -> str:
    """One line from OpenImageIO's error text and what the native libraries printed: distinct
    lines, ANSI codes and the file name prefix some libraries add removed."""
    seen: dict[str, None] = {}
    names = {path, os.path.basename(path)} - {""}
    for text in texts:
        for line in strip_ansi(text or "").splitlines():
            line = line.strip()
            for name in names:
                if line.startswith(name + ":"):
                    line = line[len(name) + 1:].strip()
            if line:
                seen.setdefault(line, None)
    lines = list(seen)
    # libraries repeat themselves (OpenImageIO wraps libpng's text): keep the fullest two lines
    lines = [a for a in lines if not any(a != b and a in b for b in lines)]
    return "; ".join(lines[:2])


def _dpx_truncation(path: str, spec) -> str | None:
    """OpenImageIO reads a DPX cut short without an error (missing rows come out black): compare
    the file's size with the size its header declares and with the pixel data it must hold."""
    size = os.path.getsize(path)
    try:
        with open(path, "rb") as f:
            head = f.read(812)
    except OSError as exc:
        return f"cannot read the header: {exc.strerror or exc}"
    if len(head) < 812 or head[:4] not in (b"SDPX", b"XPDS"):
        return None  # not a DPX header OpenImageIO would have opened: its own checks apply
    order = ">" if head[:4] == b"SDPX" else "<"
    data_offset, = struct.unpack(order + "I", head[4:8])
    declared, = struct.unpack(order + "I", head[16:20])
    if 0 < declared < (1 << 32) - 1 and size < declared:
        return f"file is {size} bytes, its header says {declared} (truncated)"
    encoding, = struct.unpack(order + "H", head[806:808])
    bits = int(spec.getattribute("oiio:BitsPerSample") or head[803] or 0)
    if encoding == 0 and 0 < bits <= 64 and 0 < data_offset < (1 << 32) - 1:
        # densest packing: any real layout (filled words, row padding) needs at least this much
        need = data_offset + spec.height * ((spec.width * spec.nchannels * bits + 7) // 8)
        if size < need:
            return f"file is {size} bytes, its pixels need at least {need} (truncated)"
    return None


NONFINITE_POLICIES = ("error", "zero", "clamp", "keep")


def fix_nonfinite(pixels: np.ndarray, policy: str) -> tuple[int, int]:
    """Count NaN and infinite samples of ``pixels`` and repair them in place: ``zero`` sets them
    to 0; ``clamp`` sets NaN to 0 and +inf / -inf to the largest / smallest finite value of the
    same channel in the array (0 when the channel has none); ``error`` and ``keep`` change
    nothing. Returns (NaN count, inf count)."""
    if policy not in NONFINITE_POLICIES:
        raise ValueError(f"nonfinite policy must be one of {NONFINITE_POLICIES}, got {policy!r}")
    # One pass, no mask: NaN and inf propagate through a sum (inf + -inf is NaN), so a finite
    # sum means every sample is finite; a sum that overflows falls through to the exact count.
    with np.errstate(invalid="ignore", over="ignore"):
        total = np.add.reduce(pixels, axis=None) if pixels.size else 0.0
    if np.isfinite(total):
        return 0, 0
    finite = np.isfinite(pixels)
    if finite.all():
        return 0, 0
    nan = np.isnan(pixels)
    n_nan = int(nan.sum())
    n_inf = int(pixels.size - int(finite.sum()) - n_nan)
    if policy == "zero":
        pixels[~finite] = 0.0
    elif policy == "clamp":
        planes = [pixels[..., c] for c in range(pixels.shape[-1])] if pixels.ndim >= 3 else [pixels]
        for plane in planes:  # views: writing them writes ``pixels``
            good = np.isfinite(plane)
            if good.all():
                continue
            values = plane[good]
            hi = float(values.max()) if values.size else 0.0
            lo = float(values.min()) if values.size else 0.0
            plane[np.isnan(plane)] = 0.0
            plane[np.isposinf(plane)] = hi
            plane[np.isneginf(plane)] = lo
    return n_nan, n_inf


def _wanted_channels(names: list[str], channels: str) -> tuple[list[str], list[str]]:
    """The channels ``channels`` asks for, in order, and those of them the file lacks."""
    if channels == "auto":
        wanted = [c for c in ("R", "G", "B", "A") if c in names] or names[: min(4, len(names))]
        if len(wanted) == 1 and len(names) == 1:
            wanted = names
        return wanted, []
    wanted = [c.strip() for c in channels.split(",") if c.strip()]
    return wanted, [c for c in wanted if c not in names]


def _channel_span(names: list[str], wanted: list[str], missing: list[str]) -> tuple[int, int]:
    """The contiguous range of file channels to decode: exactly the wanted ones when they are
    consecutive in the file (the usual R,G,B[,A]); otherwise all of them."""
    if missing or not wanted:
        return 0, len(names)
    index = [names.index(c) for c in wanted]
    if index == list(range(index[0], index[0] + len(index))):
        return index[0], index[0] + len(index)
    return 0, len(names)


def _half_to_float(data: np.ndarray) -> np.ndarray:
    """float16 -> float32, exact. OpenCV's conversion is vectorised (F16C); numpy's ``astype``
    and OpenImageIO's own conversion on read are several times slower at 4K."""
    try:
        import cv2

        flat = np.ascontiguousarray(data).reshape(data.shape[0], -1)
        return cv2.convertFp16(flat.view(np.int16), buffers.empty(flat.shape, np.float32)).reshape(data.shape)
    except (ImportError, AttributeError):  # an OpenCV without convertFp16
        return data.astype(np.float32)


def _float_to_half(data: np.ndarray) -> np.ndarray:
    """float32 -> float16 (round to nearest even, as OpenEXR's own conversion), vectorised."""
    try:
        import cv2

        flat = np.ascontiguousarray(data, np.float32).reshape(data.shape[0], -1)
        return cv2.convertFp16(flat, buffers.empty(flat.shape, np.int16)).view(np.float16).reshape(data.shape)
    except (ImportError, AttributeError):
        return data.astype(np.float16)


def _file_samples(pixels: np.ndarray, planes: Sequence[np.ndarray], half: bool) -> np.ndarray:
    """What OpenImageIO is handed: H x W x C, contiguous, in the file's own sample type, with
    ``planes`` (H x W each) appended as further channels. Each part is converted on its own and
    the parts interleaved once in the file's type (OpenCV's merge): no float32 concatenation
    first, and no copy at all for a contiguous float32 image without planes."""
    if not planes:
        return _float_to_half(pixels) if half else np.ascontiguousarray(pixels, dtype=np.float32)
    parts = [pixels, *(p[..., None] for p in planes)]
    if half:
        parts = [_float_to_half(p) for p in parts]
    try:
        import cv2

        if sum(p.shape[2] for p in parts) > 512:  # OpenCV's most channels (CV_CN_MAX)
            raise ImportError
        shape = (*pixels.shape[:2], sum(p.shape[2] for p in parts))
        if half:  # 16-bit words: merge moves them unchanged
            return cv2.merge([p.view(np.uint16) for p in parts], buffers.empty(shape, np.uint16)).view(np.float16)
        return cv2.merge([np.asarray(p, np.float32) for p in parts], buffers.empty(shape, np.float32))
    except ImportError:
        return np.concatenate(parts, axis=2, dtype=np.float16 if half else np.float32)


def read_plate(path: str, channels: str = "auto", colorspace: str = "auto", nonfinite: str = "error") -> Image:
    """Read one image file as a linear float32 ``Image`` over its display window.

    A file that does not decode completely (cut short, corrupt data) raises ``InputError``;
    no partly decoded pixels are ever returned. Non-finite samples (NaN, inf) in the channels
    read follow ``nonfinite`` (see :func:`fix_nonfinite`): ``error`` raises ``InputError``
    with the counts; otherwise the number of samples found is in the metadata under
    ``facewarp:source_nonfinite`` (0 when none)."""
    if nonfinite not in NONFINITE_POLICIES:
        raise InputError(f"nonfinite must be one of {', '.join(NONFINITE_POLICIES)}, got {nonfinite!r}",
                         param="nonfinite")
    if not os.path.isfile(path):
        raise InputError("file does not exist", file=path)
    # Ask for the file's own (unassociated) alpha so decoding to linear happens before we
    # premultiply: premultiplying in encoded space and linearising afterwards is wrong.
    config = oiio.ImageSpec()
    config.attribute("oiio:UnassociatedAlpha", 1)
    # ImageInput, not ImageBuf: an ImageBuf drops some readers' errors (a TIFF strip cut short
    # reads as black with no error). OpenEXR and libpng print their complaint to fd 2 as well:
    # that text is captured and becomes part of the error, never a stray line on the terminal.
    with captured_stderr(when_verbose=True) as log:
        inp = oiio.ImageInput.open(path, config)
        spec = data = None
        problem = reader = ""
        wanted: list[str] = []
        missing: list[str] = []
        first = 0  # the channels read are [first, first + len(data's channels))
        half = False
        if inp is None:
            problem = oiio.geterror()
        else:
            try:
                spec = oiio.ImageSpec(inp.spec())
                reader = inp.format_name()
                if spec.nchannels > 0:
                    wanted, missing = _wanted_channels(list(spec.channelnames), channels)
                    first, last = _channel_span(list(spec.channelnames), wanted, missing)
                    # Ask for the file's own sample type when it is half: OpenImageIO's
                    # half -> float conversion costs more than the decode (see _half_to_float).
                    fmts = list(spec.channelformats) or [spec.format] * spec.nchannels
                    half = all(f == oiio.HALF for f in fmts[first:last])
                    data = inp.read_image(0, 0, first, last, oiio.HALF if half else oiio.FLOAT)
                problem = inp.geterror() if (data is None or inp.has_error) else ""
            finally:
                inp.close()
    if spec is None or spec.nchannels == 0:
        raise InputError("cannot read image (truncated, corrupt or not an image file): "
                         f"{_detail(problem, log.text, path=path) or 'unknown format'}", file=path)
    if data is None or problem or getattr(data, "size", 0) == 0:
        raise InputError("truncated or corrupt image, pixels not read: "
                         f"{_detail(problem, log.text, path=path) or 'the reader returned no pixels'}", file=path)
    log.emit()  # a file that read cleanly: whatever a library printed is passed on unchanged
    if reader == "dpx":
        short = _dpx_truncation(path, spec)
        if short:
            raise InputError(f"truncated or corrupt image, pixels not read: {short}", file=path)
    names = list(spec.channelnames)
    if missing:
        raise InputError(f"no channel {', '.join(missing)} (file has {', '.join(names)})", file=path, param="channels")
    nread = data.size // (spec.height * spec.width)
    data = np.asarray(data).reshape(spec.height, spec.width, nread)
    data = _half_to_float(data) if half else np.asarray(data, np.float32)
    # Place the data window in the display window (zeros outside).
    if (spec.x, spec.y, spec.width, spec.height) != (spec.full_x, spec.full_y, spec.full_width, spec.full_height):
        full = np.zeros((spec.full_height, spec.full_width, nread), np.float32)
        x0, y0 = spec.x - spec.full_x, spec.y - spec.full_y
        sx0, sy0 = max(0, -x0), max(0, -y0)
        dx0, dy0 = max(0, x0), max(0, y0)
        w = min(spec.width - sx0, spec.full_width - dx0)
        h = min(spec.height - sy0, spec.full_height - dy0)
        if w > 0 and h > 0:
            full[dy0:dy0 + h, dx0:dx0 + w] = data[sy0:sy0 + h, sx0:sx0 + w]
        data = full
    index = [names.index(c) - first for c in wanted]
    if index == list(range(nread)):
        pixels = np.ascontiguousarray(data)  # the channels read are the ones wanted: no copy
    else:
        pixels = np.ascontiguousarray(data[..., index])
    floats = any(_is_float(fmt) for fmt in (spec.channelformats or (spec.format,)))
    # on the file's own samples, before decoding (integer files cannot hold NaN or inf)
    n_nan, n_inf = fix_nonfinite(pixels, nonfinite) if floats else (0, 0)
    if nonfinite == "error" and n_nan + n_inf:
        raise InputError(f"{n_nan + n_inf} non-finite sample(s) in channels {', '.join(wanted)} ({n_nan} NaN, "
                         f"{n_inf} inf); set nonfinite to zero or clamp to repair them", file=path, param="nonfinite")
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
    md["facewarp:source_nonfinite"] = n_nan + n_inf
    return Image(pixels, tuple(wanted), "lin_rec709", md)


def make_folder(directory: str, for_file: str) -> None:
    """Create ``directory`` and its parents for writing ``for_file``. ``OutputError`` with one
    line naming the culprit when it cannot be made (a file in the way, no permission)."""
    try:
        os.makedirs(directory, exist_ok=True)
        return
    except (FileExistsError, NotADirectoryError):
        blocker = directory
        while blocker and not os.path.lexists(blocker):
            parent = os.path.dirname(blocker)
            if parent == blocker:
                break
            blocker = parent
        reason = f"'{blocker}' is a file" if os.path.lexists(blocker) and not os.path.isdir(blocker) \
            else f"'{directory}' is in the way"
    except PermissionError as exc:
        reason = f"no permission to create '{exc.filename or directory}'"
    except OSError as exc:
        reason = f"'{exc.filename or directory}': {exc.strerror or exc}"
    raise OutputError(f"cannot create folder: {reason}", file=for_file)


def write_plate(path: str, image: Image, *, pixel_type: str = "half", compression: str = "zip",
                bit_depth: int = 0, colorspace: str = "auto", overwrite: bool = False,
                metadata: bool = True, extra: Sequence[tuple[str, np.ndarray]] = ()) -> str:
    """Write ``image`` atomically. Returns the final path.

    ``extra``: (name, H x W plane) pairs written as further channels after the image's own (a
    matte beside the picture), stored like them; an EXR gets them without the image being
    concatenated with them first."""
    ext = _ext(path)
    if ext not in WRITE_FORMATS:
        raise InputError(f"cannot write '{ext}' files (supported: {', '.join(sorted(WRITE_FORMATS))})", file=path)
    if not overwrite and os.path.exists(path):
        raise OutputExistsError("exists (use --overwrite to replace it or --skip-existing to keep it)", file=path)
    planes = [np.asarray(plane) for _, plane in extra]
    for (name, _), plane in zip(extra, planes):
        if plane.shape != (image.height, image.width):
            raise InputError(f"channel {name} is {'x'.join(map(str, plane.shape[::-1]))}, the image "
                             f"{image.width}x{image.height}", file=path)
    make_folder(os.path.dirname(path) or ".", path)
    pixels = image.pixels
    channels = [*image.channels, *(name for name, _ in extra)]
    if planes and ext != ".exr":  # encoded below like the image's own channels
        pixels = np.concatenate([pixels, *(np.asarray(p, np.float32)[..., None] for p in planes)], axis=2)
        planes = []
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
        if compression in ("zip", "zips") and EXR_ZIP_LEVEL:
            compression = f"{compression}:{EXR_ZIP_LEVEL}"
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
    # Hand OpenImageIO the file's own sample type where that is half (its float -> half
    # conversion is slower than OpenCV's, see _float_to_half); it compresses with its threads.
    data = _file_samples(pixels, planes, fmt == oiio.HALF)
    with atomic_output(path, overwrite) as tmp:
        out = oiio.ImageOutput.create(tmp)
        if out is None:
            raise RenderError(f"no writer for '{ext}': {oiio.geterror()}", file=path)
        if not out.open(tmp, spec):
            raise RenderError(f"cannot open for writing: {out.geterror()}", file=path)
        ok = out.write_image(data)
        closed = out.close()
        if not ok or not closed:
            raise RenderError(f"write failed: {out.geterror()}", file=path)
    return path
