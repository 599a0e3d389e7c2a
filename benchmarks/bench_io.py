"""Benchmark of plate I/O and the STMap conversion at 3840 x 2160, A/B against a git revision.

Times (wall and the process's CPU, all threads), interleaved in one run (so machine load
affects all alike), medians of ``--repeats``:
    * a bare OpenImageIO read (``ImageInput.read_image`` as float) of a half EXR, zip - the floor;
    * ``read_plate`` of that file: this tree and the baseline revision's;
    * ``write_plate`` of a 4K RGB render as half EXR (zip), of the render with its matte as the
      channel ``matte.A`` the way PlateWrite hands it over (the baseline: concatenated first, as
      its PlateWrite did, unless its write_plate takes ``extra``), and of the STMap as float EXR
      (zip): this tree, the baseline's, and a bare OpenImageIO write of the same pixels;
    * STMapExport's work (displacement -> u, v, alpha): this tree and the baseline's.
The baseline's modules are loaded from ``git show REV:<file>`` (default HEAD), so the
comparison needs no second checkout. Prints ``os.getloadavg()`` before and after: on a shared
machine compare the ratios of one run, not absolute times across runs.

``--codecs`` instead times the EXR compressions for the render (half R, G, B, matte.A) and the
STMap (float u, v, A; also the lossy pxr24, with its largest error in pixels): bare OpenImageIO
writes and reads, file sizes, and whether the samples read back bit for bit.

    python benchmarks/bench_io.py [--repeats 7] [--baseline HEAD] [--size 3840x2160] [--codecs]
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import os
import statistics
import subprocess
import sys
import tempfile
import time

import cv2
import numpy as np
import OpenImageIO as oiio

from facewarp.core import conventions
from facewarp.core.types import Image
from facewarp.imaging import plates

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def baseline_module(rev: str, relpath: str, name: str):
    """The module ``relpath`` of the package as it is at git revision ``rev``."""
    source = subprocess.run(["git", "-C", ROOT, "show", f"{rev}:{relpath}"], check=True, capture_output=True,
                            text=True).stdout
    spec = importlib.util.spec_from_loader(name, loader=None)
    module = importlib.util.module_from_spec(spec)
    module.__file__ = os.path.join(ROOT, relpath)
    sys.modules[name] = module
    exec(compile(source, module.__file__, "exec"), module.__dict__)
    return module


def plate(w: int, h: int) -> np.ndarray:
    from skimage import data

    side = cv2.resize(data.astronaut().astype(np.float32) / 255, (w, w), interpolation=cv2.INTER_CUBIC)
    return np.ascontiguousarray(side[(w - h) // 2:(w - h) // 2 + h])


def field(w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    f = cv2.GaussianBlur(rng.standard_normal((128, 128, 2)).astype(np.float32), (0, 0), 12.8)
    f = cv2.resize(f / np.abs(f).max() * 0.03 * w, (w, h), interpolation=cv2.INTER_LINEAR)
    return f, (np.abs(f).sum(-1) > 0.5 * np.abs(f).mean()).astype(np.float32)


def bare_read(path: str, fmt=oiio.FLOAT) -> np.ndarray:
    inp = oiio.ImageInput.open(path)
    data = inp.read_image(0, 0, 0, inp.spec().nchannels, fmt)
    inp.close()
    return data


def bare_write(path: str, px: np.ndarray, fmt, names, compression: str = "zip") -> None:
    out = oiio.ImageOutput.create(path)
    spec = oiio.ImageSpec(px.shape[1], px.shape[0], px.shape[2], fmt)
    spec.channelnames = names
    spec.attribute("compression", compression)
    out.open(path, spec)
    out.write_image(px)
    out.close()


def timed(ops: dict, repeats: int) -> tuple[dict, dict]:
    """(wall, cpu) seconds of each op, ``repeats`` rounds interleaved after one warm-up round
    (page cache, lazy imports). CPU is the process's, all threads (OpenEXR's pool included)."""
    for fn in ops.values():
        fn()
    wall = {k: [] for k in ops}
    cpu = {k: [] for k in ops}
    for _ in range(repeats):
        for k, fn in ops.items():
            t, c = time.perf_counter(), time.process_time()
            fn()
            cpu[k].append(time.process_time() - c)
            wall[k].append(time.perf_counter() - t)
    return wall, cpu


def header(w: int, h: int, what: str, repeats: int, load_before, load_after) -> None:
    print(f"facewarp I/O benchmark: {w}x{h}, {what}, repeats={repeats}, OIIO {oiio.VERSION_STRING} "
          f"threads={oiio.get_int_attribute('threads')}, exr_threads={oiio.get_int_attribute('exr_threads')}, "
          f"cpus={os.cpu_count()}")
    print(f"load average before {tuple(round(v, 2) for v in load_before)}, after "
          f"{tuple(round(v, 2) for v in load_after)}")


def codecs(w: int, h: int, repeats: int) -> int:
    """The EXR compression table (see the module doc)."""
    px = plate(w, h)
    f, valid = field(w, h)
    render = plates._float_to_half(np.concatenate([px, valid[..., None]], axis=2))
    st = stmap_new(f, valid)
    cases = [("render half RGB+matte.A", c, render, oiio.HALF, ("R", "G", "B", "matte.A"))
             for c in ("zip:1", "zip", "zips:1", "zips", "piz", "rle", "none")]
    cases += [("STMap float u,v,A", c, st, oiio.FLOAT, ("forward.u", "forward.v", "A"))
              for c in ("zip:1", "zip", "zips:1", "zips", "piz", "rle", "none", "pxr24")]
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="fw_bench_codecs_") as d:
        paths = [os.path.join(d, f"c{i}.exr") for i in range(len(cases))]
        ops = {}
        for i, (_, comp, data, fmt, names) in enumerate(cases):
            ops[("write", i)] = lambda i=i, comp=comp, data=data, fmt=fmt, names=names: bare_write(
                paths[i], data, fmt, names, comp)
            ops[("read", i)] = lambda i=i, fmt=fmt: bare_read(paths[i], fmt)
        wall, cpu = timed(ops, repeats)
        load_after = os.getloadavg()
        header(w, h, "EXR codecs, bare OpenImageIO", repeats, load_before, load_after)
        print(f"{'file':24s} {'codec':7s} {'write ms':>9s} {'cpu ms':>8s} {'read ms':>8s} {'MB':>7s}  lossless")
        for i, (what, comp, data, fmt, names) in enumerate(cases):
            inp = oiio.ImageInput.open(paths[i])
            order = list(inp.spec().channelnames)  # OpenEXR stores channels sorted by name
            back = np.asarray(inp.read_image(0, 0, 0, len(order), fmt))[..., [order.index(c) for c in names]]
            inp.close()
            bits = np.uint16 if fmt == oiio.HALF else np.uint32
            exact = np.array_equal(back.view(bits), np.ascontiguousarray(data).view(bits))
            note = "yes"
            if not exact:
                err = np.abs(back.astype(np.float64) - data)
                note = "NO" if fmt == oiio.HALF else (f"NO: |u err| x W <= {err[..., 0].max() * w:.3g} px, "
                                                      f"|v err| x H <= {err[..., 1].max() * h:.3g} px")
            print(f"{what:24s} {comp:7s} {1000 * statistics.median(wall['write', i]):9.1f} "
                  f"{1000 * statistics.median(cpu['write', i]):8.1f} {1000 * statistics.median(wall['read', i]):8.1f} "
                  f"{os.path.getsize(paths[i]) / 1e6:7.1f}  {note}")
    return 0


def stmap_new(f, valid):  # what STMapExport.compute does now
    px = np.empty((*f.shape[:2], 3), np.float32)
    conventions.displacement_to_stmap(f, out=px)
    px[..., 2] = valid
    return px


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--baseline", default="HEAD", help="git revision to compare with (default HEAD)")
    ap.add_argument("--size", default="3840x2160")
    ap.add_argument("--codecs", action="store_true", help="time the EXR compressions instead (see the module doc)")
    args = ap.parse_args(argv)
    w, h = (int(v) for v in args.size.split("x"))
    if args.codecs:
        return codecs(w, h, args.repeats)
    old_plates = baseline_module(args.baseline, "imaging/plates.py", "_baseline_plates")
    old_conv = baseline_module(args.baseline, "core/conventions.py", "_baseline_conventions")

    def stmap_old(f, valid):  # STMapExport.compute before: float64 positions, then a concatenation
        uv = old_conv.displacement_to_stmap(f)
        return np.concatenate([uv, valid[..., None].astype(np.float32)], axis=2)

    load_before = os.getloadavg()
    px = plate(w, h)
    f, valid = field(w, h)
    st = stmap_new(f, valid)
    assert np.abs(st - stmap_old(f, valid)).max() <= 1e-6
    rgb, uva = ("R", "G", "B"), ("forward.u", "forward.v", "A")
    matte = valid  # a hard-edged region as the render's matte.A
    rgbm_half = plates._float_to_half(np.concatenate([px, matte[..., None]], axis=2))
    old_takes_planes = "extra" in inspect.signature(old_plates.write_plate).parameters

    def matte_new():  # PlateWrite now: the matte handed over as a plane of its own
        plates.write_plate(out, Image(px, rgb), overwrite=True, extra=(("matte.A", matte),))

    def matte_old():  # the baseline's PlateWrite concatenated the matte onto the picture first
        if old_takes_planes:
            old_plates.write_plate(out, Image(px, rgb), overwrite=True, extra=(("matte.A", matte),))
        else:
            pixels = np.concatenate([px, matte[..., None]], axis=2)
            old_plates.write_plate(out, Image(pixels, (*rgb, "matte.A")), overwrite=True)

    with tempfile.TemporaryDirectory(prefix="fw_bench_io_") as d:
        src = os.path.join(d, "plate.exr")
        bare_write(src, px, oiio.HALF, rgb)
        out = os.path.join(d, "o.exr")
        assert np.array_equal(plates.read_plate(src).pixels, old_plates.read_plate(src).pixels)
        ops = {
            "read: bare OIIO read_image float": lambda: bare_read(src),
            "read: read_plate (baseline)": lambda: old_plates.read_plate(src),
            "read: read_plate (this tree)": lambda: plates.read_plate(src),
            "write half: bare OIIO from float": lambda: bare_write(out, px, oiio.HALF, rgb),
            "write half: write_plate (baseline)": lambda: old_plates.write_plate(out, Image(px, rgb), overwrite=True),
            "write half: write_plate (this tree)": lambda: plates.write_plate(out, Image(px, rgb), overwrite=True),
            "write half+matte: bare OIIO of half samples": lambda: bare_write(
                out, rgbm_half, oiio.HALF, (*rgb, "matte.A"), f"zip:{plates.EXR_ZIP_LEVEL}"),
            "write half+matte: PlateWrite (baseline)": matte_old,
            "write half+matte: PlateWrite (this tree)": matte_new,
            "write float STMap: bare OIIO": lambda: bare_write(out, st, oiio.FLOAT, uva),
            "write float STMap: write_plate (baseline)": lambda: old_plates.write_plate(
                out, Image(st, uva, "data"), pixel_type="float", overwrite=True),
            "write float STMap: write_plate (this tree)": lambda: plates.write_plate(
                out, Image(st, uva, "data"), pixel_type="float", overwrite=True),
            "STMapExport work (baseline, float64)": lambda: stmap_old(f, valid),
            "STMapExport work (this tree, float32)": lambda: stmap_new(f, valid),
        }
        wall, cpu = timed(ops, args.repeats)
    load_after = os.getloadavg()
    header(w, h, f"baseline {args.baseline}", args.repeats, load_before, load_after)
    print(f"{'operation':44s} {'median ms':>10s} {'min':>8s} {'max':>8s} {'cpu ms':>8s}")
    for k, v in wall.items():
        print(f"{k:44s} {1000 * statistics.median(v):10.1f} {1000 * min(v):8.1f} {1000 * max(v):8.1f} "
              f"{1000 * statistics.median(cpu[k]):8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
