"""PlateRead: one file or a frame sequence (EXR, DPX, TIFF, PNG, JPEG) through OpenImageIO."""

from __future__ import annotations

import os

import numpy as np

from facewarp.core.errors import FacewarpError
from facewarp.core.frames import frame_path, frames_on_disk, has_token
from facewarp.graph import InputError, Node, NodeSchema, Output, Param, events, parse_frames
from facewarp.imaging.plates import read_plate

events.label("nonfinite_zero", "non-finite sample(s) zeroed")
events.label("nonfinite_clamp", "non-finite sample(s) clamped")


class PlateRead(Node):
    schema = NodeSchema(
        type="PlateRead",
        category="io",
        doc="Read a plate: a single file or a sequence (plate.####.exr, plate.%04d.dpx, plate.@@@@.png). "
            "Channels are looked up by name; display-referred files are decoded to linear float32, EXR stays "
            "linear; file metadata is carried on the Image.",
        outputs=(Output("image", "Image", "the plate, linear float32"),),
        params=(
            Param("path", "path", "", "file or sequence pattern; ${vars} allowed", required=True),
            Param("channels", "string", "auto", "'auto' (R,G,B[,A]) or names, e.g. 'R,G,B' or 'diffuse.R,diffuse.G,diffuse.B'"),
            Param("colorspace", "enum", "auto", "encoding of the file: auto (EXR linear, DPX from its header, "
                  "8/16-bit files sRGB) or forced", choices=("auto", "linear", "srgb", "rec709", "cineon")),
            Param("frames", "string", "", "frames the sequence has, e.g. '1001-1100' or '1,5,9' (empty: what is on disk)"),
            Param("offset", "int", 0, "file frame = evaluated frame + offset (retime/slip)"),
            Param("missing", "enum", "error", "a missing frame: error, hold the nearest earlier (else later) frame, "
                  "or black", choices=("error", "hold", "black")),
            Param("nonfinite", "enum", "error", "NaN/inf samples in the file: error (stop, naming the file, frame "
                  "and count), zero (set them to 0), or clamp (NaN to 0, +inf/-inf to the largest/smallest "
                  "finite value of the same channel in that frame); repaired samples are counted in the "
                  "run's summary", choices=("error", "zero", "clamp")),
        ),
    )

    def planned_inputs(self, ctx) -> list[str]:
        """The file this frame reads, with the offset applied (the default would name the
        pattern at the evaluated frame)."""
        raw = self.params["path"]
        pattern = ctx.substitute(raw, frames=False) if isinstance(raw, str) else raw
        if not pattern or not has_token(pattern):
            return [pattern] if pattern else []
        return [frame_path(pattern, ctx.frame + self.param(ctx, "offset"))]

    def _resolve(self, ctx) -> tuple[str, bool]:
        """(file to read, is_black). Applies offset, the explicit frame list and the missing policy."""
        raw = self.params["path"]
        pattern = ctx.substitute(raw, frames=False) if isinstance(raw, str) else raw
        if not has_token(pattern):
            return pattern, False  # a still: the same file on every frame
        frame = ctx.frame + self.param(ctx, "offset")
        listed = self.param(ctx, "frames").strip()
        available = None
        try:
            available = parse_frames(listed) if listed else None
        except FacewarpError as exc:
            exc.located(node=self.name, node_type=self.schema.type, param="frames")
            raise
        path = frame_path(pattern, frame)
        exists = (available is None or frame in available) and os.path.isfile(path)
        if exists:
            return path, False
        policy = self.param(ctx, "missing")
        if policy == "error":
            raise self.error(InputError, "missing frame of the sequence", file=path, frame=ctx.frame)
        on_disk = [f for f in frames_on_disk(pattern) if available is None or f in available]
        if not on_disk:
            raise self.error(InputError, "no frame of the sequence exists", file=pattern, frame=ctx.frame)
        earlier = [f for f in on_disk if f < frame]
        nearest = earlier[-1] if earlier else on_disk[0]
        return frame_path(pattern, nearest), policy == "black"

    def frames_available(self, ctx) -> tuple[int, ...]:
        raw = self.params["path"]
        pattern = ctx.substitute(raw, frames=False) if isinstance(raw, str) else raw
        if not isinstance(pattern, str) or not has_token(pattern):
            return ()  # a still has no range of its own
        offset = self.param(ctx, "offset")
        listed = self.param(ctx, "frames").strip()
        try:
            allowed = set(parse_frames(listed)) if listed else None
        except FacewarpError as exc:
            raise exc.located(node=self.name, node_type=self.schema.type, param="frames") from None
        # Files are numbered file frame = evaluated frame + offset (see _resolve).
        return tuple(f - offset for f in frames_on_disk(pattern) if allowed is None or f in allowed)

    def hash_extra(self, ctx, h) -> None:
        # A node hashes what it reads: which file (after offset/hold) and that file's identity,
        # so replacing a plate on disk invalidates cached results.
        try:
            path, black = self._resolve(ctx)
        except FacewarpError:
            # Unresolvable (missing frame under 'error'): compute() raises the real error.
            h.update(f"|unresolved|frame={ctx.frame}".encode())
            return
        try:
            st = os.stat(path)
            h.update(f"|file={os.path.abspath(path)}|{st.st_mtime_ns}|{st.st_size}|black={black}".encode())
        except OSError:
            h.update(f"|file={path}|missing".encode())

    def compute(self, ctx, inputs):
        path, black = self._resolve(ctx)
        nonfinite = self.param(ctx, "nonfinite")
        try:
            image = read_plate(path, self.param(ctx, "channels"), self.param(ctx, "colorspace"),
                               "keep" if black else nonfinite)  # black: its pixels are replaced
        except FacewarpError as exc:
            exc.located(node=self.name, node_type=self.schema.type, frame=ctx.frame)
            raise
        if not black:
            events.count(f"nonfinite_{nonfinite}", image.metadata.get("facewarp:source_nonfinite", 0))
        if black:
            image = image.with_pixels(np.zeros_like(image.pixels))
            image.metadata["facewarp:missing_frame"] = ctx.frame
        return {"image": image}
