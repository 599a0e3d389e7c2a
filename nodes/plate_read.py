"""PlateRead: one file or a frame sequence (EXR, DPX, TIFF, PNG, JPEG) through OpenImageIO, or a
movie (mp4, mov, mpg, avi, mkv, m4v) through PyAV, read as a frame sequence (imaging/movie_read.py)."""

from __future__ import annotations

import bisect
import os
from collections.abc import Sequence

import numpy as np

from facewarp.core.errors import FacewarpError
from facewarp.core.frames import frame_path, frames_on_disk, has_token
from facewarp.graph import InputError, Node, NodeSchema, Output, Param, events, parse_frames
from facewarp.imaging.movie_read import MOVIE_EXTS, is_movie, movie_info, read_movie_frame
from facewarp.imaging.plates import read_plate

events.label("nonfinite_zero", "non-finite sample(s) zeroed")
events.label("nonfinite_clamp", "non-finite sample(s) clamped")


class PlateRead(Node):
    schema = NodeSchema(
        type="PlateRead",
        category="io",
        doc="Read a plate: a single file or a sequence (plate.####.exr, plate.%04d.dpx, plate.@@@@.png), or a "
            f"movie ({', '.join(MOVIE_EXTS)}) as a sequence whose first frame is first_frame. Channels are looked "
            "up by name; display-referred files are decoded to linear float32, EXR stays linear; file metadata "
            "is carried on the Image (a movie's frame rate under facewarp:fps).",
        outputs=(Output("image", "Image", "the plate, linear float32"),),
        params=(
            Param("path", "path", "", "file, sequence pattern or movie; ${vars} allowed", required=True),
            Param("channels", "string", "auto", "'auto' (R,G,B[,A]) or names, e.g. 'R,G,B' or 'diffuse.R,diffuse.G,diffuse.B'"),
            Param("colorspace", "enum", "auto", "encoding of the file: auto (EXR linear, DPX from its header, "
                  "8/16-bit files sRGB) or forced", choices=("auto", "linear", "srgb", "rec709", "cineon")),
            Param("frames", "string", "", "frames the sequence has, e.g. '1001-1100' or '1,5,9' (empty: what is on disk)"),
            Param("offset", "int", 0, "file frame = evaluated frame + offset (retime/slip)"),
            Param("first_frame", "int", 1001, "movies: the frame number of the movie's first frame"),
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

    # -- movies: one file holding the frames first_frame, first_frame + 1, ... -----------------
    def _movie(self, ctx) -> str | None:
        """The movie this node reads, or None (a still or an image sequence)."""
        raw = self.params["path"]
        pattern = ctx.substitute(raw, frames=False) if isinstance(raw, str) else raw
        return pattern if is_movie(pattern) and not has_token(pattern) else None

    def _movie_frames(self, ctx, path: str) -> Sequence[int]:
        """The movie's frame numbers (first_frame on), cut to the node's frames list, ascending."""
        try:
            info = movie_info(path)
        except FacewarpError as exc:
            raise exc.located(node=self.name, node_type=self.schema.type, param="path") from None
        first = self.param(ctx, "first_frame")
        listed = self.param(ctx, "frames").strip()
        try:
            allowed = parse_frames(listed) if listed else None
        except FacewarpError as exc:
            raise exc.located(node=self.name, node_type=self.schema.type, param="frames") from None
        whole = range(first, first + info.frames)
        if allowed is None and not info.gaps:
            return whole
        skipped = {first + n for n in info.gaps}  # the timestamps skip them: missing frames
        return sorted(f for f in (whole if allowed is None else set(allowed).intersection(whole)) if f not in skipped)

    def _outside(self, ctx, frame: int, have: Sequence[int]) -> str:
        """Why the movie's frame number ``frame`` (evaluated frame + offset) is not read."""
        if not have:
            return "no frame of the movie is in the node's frames list"
        offset = self.param(ctx, "offset")
        name = f"frame {frame}" + (f" ({frame - offset} + offset {offset})" if offset else "")
        span = f"the movie has frames {have[0]}-{have[-1]} (first_frame {self.param(ctx, 'first_frame')})"
        if frame > have[-1]:
            return f"{name} is past the movie's end: {span}"
        if frame < have[0]:
            return f"{name} is before the movie's start: {span}"
        if not self.param(ctx, "frames").strip():
            return f"{name} is not in the movie: its timestamps skip it"
        return f"{name} is not in the movie (its timestamps skip it) or not in the node's frames list"

    def _resolve_movie(self, ctx, path: str) -> tuple[int, bool]:
        """(movie frame index, is_black) for this frame: offset, first_frame, the frames list and
        the missing policy, as for a sequence."""
        frame = ctx.frame + self.param(ctx, "offset")
        first = self.param(ctx, "first_frame")
        have = self._movie_frames(ctx, path)
        if frame in have:
            return frame - first, False
        policy = self.param(ctx, "missing")
        if policy == "error" or not have:
            raise self.error(InputError, self._outside(ctx, frame, have), param="path", file=path, frame=ctx.frame)
        i = bisect.bisect_left(have, frame)
        return have[i - 1 if i > 0 else 0] - first, policy == "black"

    def _read_movie(self, ctx, path: str):
        try:
            index, black = self._resolve_movie(ctx, path)
            image = read_movie_frame(path, index, self.param(ctx, "channels"), self.param(ctx, "colorspace"))
        except FacewarpError as exc:
            exc.located(node=self.name, node_type=self.schema.type, param="path", frame=ctx.frame)
            raise
        return image, black

    def problems(self, ctx) -> list[FacewarpError]:
        out = super().problems(ctx)
        movie = self._movie(ctx)
        if movie is None or not os.path.isfile(movie):
            return out  # a missing file is already reported by the default check
        try:
            have = self._movie_frames(ctx, movie)
            info = movie_info(movie)
        except FacewarpError as exc:
            return out + [exc]
        offset, first = self.param(ctx, "offset"), self.param(ctx, "first_frame")
        frames = ctx.frames or ((ctx.frame,) if ctx.frame is not None else ())
        members = have if isinstance(have, range) else set(have)
        outside = [f for f in frames if f + offset not in members]
        if outside and (self.param(ctx, "missing") == "error" or not have):
            more = f"; {len(outside)} frames of the range are outside it" if len(outside) > 1 else ""
            out.append(self.error(InputError, self._outside(ctx, outside[0] + offset, have) + more, param="path",
                                  file=movie, frame=outside[0]))
        lost = [f for f in frames if f + offset in members and not info.readable(f + offset - first)]
        last = first + info.frames - 1
        if not lost and not info.declared and last - offset in frames and last in members:
            # No count in the header (MPEG-PS): a file cut short ends with a partial picture
            # that only decoding shows; one keyframe interval, decoded now rather than mid-render.
            try:
                read_movie_frame(movie, last - first)
            except FacewarpError as exc:
                out.append(exc.located(node=self.name, node_type=self.schema.type, param="path", frame=last - offset))
        if lost:
            held = sum(t is not None for t in info.pts)
            out.append(self.error(InputError, f"truncated or corrupt movie: {len(lost)} frame(s) of the range cannot "
                                  f"be decoded (the file holds {held} readable of its {info.frames} frames)",
                                  param="path", file=movie, frame=lost[0]))
        return out

    def frames_available(self, ctx) -> tuple[int, ...]:
        raw = self.params["path"]
        pattern = ctx.substitute(raw, frames=False) if isinstance(raw, str) else raw
        movie = self._movie(ctx)
        if movie is not None:  # file frame = evaluated frame + offset, as for sequences
            offset = self.param(ctx, "offset")
            return tuple(f - offset for f in self._movie_frames(ctx, movie))
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
        movie = self._movie(ctx)
        if movie is not None:
            try:  # one file for every frame: which of its frames is read
                index, black = self._resolve_movie(ctx, movie)
                st = os.stat(movie)
            except (FacewarpError, OSError):
                h.update(f"|unresolved|frame={ctx.frame}".encode())  # compute() raises the real error
                return
            h.update(f"|movie={os.path.abspath(movie)}|{st.st_mtime_ns}|{st.st_size}|index={index}|black={black}".encode())
            return
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
        movie = self._movie(ctx)
        if movie is not None:
            image, black = self._read_movie(ctx, movie)
            nonfinite = "keep"  # 8/16-bit video holds no NaN or inf
        else:
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
