"""Movies (mp4, mov, mpg, avi, mkv, m4v) read as frame sequences through PyAV, frame-exact.

A movie is indexed once from its packets, without decoding: a packet's presentation time (pts)
names its frame, ``round((pts - first pts) / frame duration)``, so a stream whose first pts is not
0 (MPEG program streams) still starts at frame 0, and a frame missing from a damaged file is a
hole that reads as an error, never a shift of the frames after it. Reading frame N seeks to the
last keyframe at or before N and decodes forward to the frame whose pts is N's, so a seek gives
the same pixels as decoding the whole file from its start. Each reader keeps its decoder where
it stopped: sequential reads decode on and seek only when that skips decoding.

Frames are display-referred video: 8-bit sources come back as uint8 RGB, deeper ones as uint16,
through swscale with the matrix and range the stream is tagged with (untagged: BT.601, limited
range, what FFmpeg and :func:`facewarp.imaging.movie.write_mp4` assume). Readers are cached per
file (path, size, mtime) and registered with :mod:`facewarp.core.memory`; a lock per reader
makes one safe to use from several threads.
"""

from __future__ import annotations

import bisect
import os
import threading
from collections import Counter, OrderedDict
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from facewarp.core import memory
from facewarp.core.color import to_linear
from facewarp.core.conventions import FPS_KEY
from facewarp.core.errors import InputError
from facewarp.core.types import Image

MOVIE_EXTS = (".mp4", ".mov", ".m4v", ".mpg", ".mpeg", ".avi", ".mkv")
MAX_READERS = 8  # open files (and their decoders) kept between frames


def is_movie(path: str) -> bool:
    return isinstance(path, str) and os.path.splitext(path)[1].lower() in MOVIE_EXTS


@dataclass(frozen=True)
class MovieInfo:
    """What the packets say. ``pts[n]`` is frame n's presentation time in ``time_base`` units
    (None: the frame is missing or its packet is damaged); ``declared`` is the count the header
    states (0: none, as in MPEG program streams); ``frames`` covers both."""

    path: str
    pts: tuple[int | None, ...]
    keyframes: tuple[int, ...]  # frame numbers of keyframe packets, ascending
    sizes: tuple[int, ...]  # packet size per frame (0 for a hole): what a seek must find again
    declared: int
    gaps: frozenset[int]  # frames the timestamps skip in an undamaged part: missing, like a sequence's gap
    fps: Fraction
    time_base: Fraction
    width: int
    height: int
    codec: str

    @property
    def frames(self) -> int:
        return max(len(self.pts), self.declared)

    def readable(self, n: int) -> bool:
        return 0 <= n < len(self.pts) and self.pts[n] is not None


def _open(path: str):
    import av  # PyAV: only where a movie is read (~0.1 s of every task's start otherwise)
    try:
        container = av.open(path, metadata_errors="ignore")
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise InputError(f"cannot read movie (truncated, corrupt or not a movie): {_why(exc)}", file=path) from None
    if not container.streams.video:
        container.close()
        raise InputError("movie has no video stream", file=path)
    return container


def _why(exc: Exception) -> str:
    # PyAV's text repeats the file name, which the error already names
    text = getattr(exc, "strerror", None) or str(exc)
    return " ".join(str(text).split()) or type(exc).__name__


def _index(path: str) -> MovieInfo:
    import av  # PyAV: only where a movie is read (~0.1 s of every task's start otherwise)
    container = _open(path)
    try:
        stream = container.streams.video[0]
        stamps: list[int] = []
        size: dict[int, int] = {}
        keys: set[int] = set()
        bad: set[int] = set()
        cut = False
        try:
            for packet in container.demux(stream):
                if packet.size == 0 or packet.is_discard:  # flush packets; edit-list leftovers never shown
                    continue
                t = packet.pts if packet.pts is not None else packet.dts
                if t is None:
                    raise InputError("movie packets carry no timestamps, so frames cannot be found exactly "
                                     "(re-wrap it, e.g. as .mov or .mkv)", file=path)
                stamps.append(t)
                size[t] = packet.size
                if packet.is_corrupt:  # a file cut short: its last packet is partial
                    bad.add(t)
                elif packet.is_keyframe:
                    keys.add(t)
        except av.FFmpegError:
            cut = True  # damaged past here: what was indexed stays readable, later frames are holes
        ctx = stream.codec_context
        time_base = Fraction(stream.time_base) if stream.time_base else Fraction(1, 90000)
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        declared = int(stream.frames or 0)
        width, height, codec = ctx.width, ctx.height, ctx.name
    finally:
        container.close()
    if not stamps:
        raise InputError("movie holds no video frames (empty, truncated or corrupt)", file=path)
    times = sorted(set(stamps))
    t0 = times[0]
    # A frame's duration is the most common pts step (headers can state a field or base rate);
    # the header's average rate is the fps reported, when it has one.
    diffs = Counter(b - a for a, b in zip(times, times[1:]))
    step = Fraction(diffs.most_common(1)[0][0]) if diffs else 1 / (Fraction(rate or 24) * time_base)
    rate = Fraction(rate) if rate else 1 / (step * time_base)
    numbers = [(t - t0) / step for t in times]
    if all(abs(x - round(x)) < 0.25 for x in numbers):
        numbers = [round(x) for x in numbers]  # constant rate: a lost frame leaves a hole, no shift
    else:
        numbers = list(range(len(times)))  # variable frame rate: frames in pts order
    pts: list[int | None] = [None] * (numbers[-1] + 1)
    sizes = [0] * len(pts)
    keyframes = []
    for n, t in zip(numbers, times):
        if t not in bad:
            pts[n], sizes[n] = t, size[t]
            if t in keys:
                keyframes.append(n)
    # Holes are damage from the first damaged packet on, and in the last keyframe interval of a
    # file cut short (its last pictures in decode order are lost); earlier ones are frames the
    # timestamps skip (a variable-rate source dropping frames): missing, not damaged.
    damaged = min((n for n, t in zip(numbers, times) if t in bad), default=len(pts))
    if cut or declared > len(pts):
        damaged = min(damaged, keyframes[-1] if keyframes else 0)
    gaps = frozenset(n for n in range(damaged) if pts[n] is None)
    return MovieInfo(path, tuple(pts), tuple(keyframes), tuple(sizes), declared, gaps, rate, time_base, width,
                     height, codec)


class _Desync(Exception):
    """After a seek, packets or frames are not what the index says (labels shifted, a frame dropped)."""


class MovieReader:
    """Frame-exact random access into one movie; see the module doc."""

    def __init__(self, path: str):
        self.path = path
        self.info = _index(path)
        self.seeks = 0  # times the decoder was repositioned (tests and benchmarks read it)
        self._number = {t: n for n, t in enumerate(self.info.pts) if t is not None}
        self._lock = threading.Lock()
        self._container = None
        self._stream = None
        self._decoded = None  # the decode generator, where it stopped
        self._pos: int | None = None  # frame number it last gave
        self._need_key = False  # after a seek: frames count only from a decoded keyframe on
        self._started_at: int | None = None  # the keyframe the decoder was put at (None: the file's start)
        self._early = 0  # ticks to seek before a keyframe (1 once a seek landed past one)
        self._seekable = True  # False once a seek gave packets the index does not know: decode from the start
        self._last: tuple[int, np.ndarray] | None = None

    def close(self) -> None:
        """Drop the open file and decoder; the next read opens them again."""
        with self._lock:
            self._reset(close=True)

    def _reset(self, close: bool = False) -> None:
        self._decoded = None
        self._pos = None
        self._last = None
        if close and self._container is not None:
            self._container.close()
            self._container = self._stream = None

    def _seek(self, key: int | None) -> None:
        """Put the decoder at keyframe ``key``; None: at the very start of the file."""
        self.seeks += 1
        self._reset(close=key is None)  # reopening is the one sure way back to the first packet
        if self._container is None:
            self._container = _open(self.path)
            self._stream = self._container.streams.video[0]
        if key is not None:
            self._container.seek(self.info.pts[key] - self._early, stream=self._stream, backward=True,
                                 any_frame=False)
        self._need_key = key is not None
        self._started_at = key
        self._decoded = self._packets_decoded()

    def _packets_decoded(self):
        """Decoded frames in presentation order. Packets the demuxer marks damaged (the partial
        last packet of a file cut short) are left out, so the frames before them still decode.
        After a seek the packets must be the ones the index has under their timestamps: MPEG
        program streams can land mid-frame and label packets with their neighbours' timestamps.
        The first keyframe packet must carry a keyframe's timestamp (its size may differ: it can
        start with bytes from where the seek landed), every later one the same size as indexed."""
        info, checking, since_key = self.info, self._need_key, 0  # packets from the first keyframe on
        keyframes = {info.pts[k] for k in info.keyframes}
        for packet in self._container.demux(self._stream):
            if packet.is_corrupt:
                continue
            if since_key or packet.is_keyframe:
                since_key += 1
            t = packet.pts if packet.pts is not None else packet.dts
            if checking and since_key and packet.size and t is not None:
                n = self._number.get(t)
                if t not in keyframes if since_key == 1 else (n is None or info.sizes[n] != packet.size):
                    raise _Desync
            yield from packet.decode()

    def frame(self, n: int) -> np.ndarray:
        """Frame ``n`` (0 = the movie's first) as H x W x 3 RGB, uint8 (uint16 for deeper
        sources). ``InputError`` for a frame the file does not hold or cannot decode."""
        import av  # PyAV: only where a movie is read (~0.1 s of every task's start otherwise)
        info = self.info
        if not 0 <= n < info.frames:
            raise InputError(f"movie frame {n} is past the movie's end (it has {info.frames} frames, 0-"
                             f"{info.frames - 1})" if n >= 0 else f"movie frame {n} is before its first frame",
                             file=self.path)
        if n in info.gaps:
            raise InputError(f"movie frame {n} has no picture: the movie's timestamps skip it", file=self.path)
        if not info.readable(n):
            held = sum(t is not None for t in info.pts)
            raise InputError(f"truncated or corrupt movie: movie frame {n} cannot be decoded (the file holds "
                             f"{held} readable of its {info.frames} frames)", file=self.path)
        with self._lock:
            if self._last is not None and self._last[0] == n:
                return self._last[1].copy()
            i = bisect.bisect_right(info.keyframes, n) - 1
            key = info.keyframes[i] if i >= 0 and self._seekable else None
            decoding_on = self._decoded is not None and self._pos is not None and self._pos < n
            if not (decoding_on and (key is None or key <= self._pos + 1)):
                self._seek(key)  # only when it skips decoding (or must go back)
            try:
                return self._decode_to(n, key)
            except av.FFmpegError as exc:
                self._reset()
                raise InputError(f"truncated or corrupt movie: movie frame {n} not decoded: {_why(exc)}",
                                 file=self.path) from None
            except InputError:
                self._reset()
                raise

    def _decode_to(self, n: int, key: int | None) -> np.ndarray:
        target = self.info.pts[n]
        while True:
            late = False
            try:
                for frame in self._decoded:
                    t = frame.pts
                    if t is None:
                        continue
                    if self._need_key:
                        # A seek can land past the keyframe asked for (demuxers without an index
                        # seek by bytes); frames before a decoded keyframe may lack their references.
                        if t > target or (frame.key_frame and t > self.info.pts[key]):
                            late = True
                            break
                        if not frame.key_frame:
                            continue
                        self._need_key = False
                    if t < target:
                        self._pos = self._number.get(t, self._pos)
                        continue
                    if t > target:
                        if self._started_at is not None:
                            raise _Desync  # the decoder dropped it after the seek: from the start, once
                        raise InputError(f"truncated or corrupt movie: movie frame {n} is missing from the "
                                         "decoded stream", file=self.path)
                    if frame.is_corrupt:
                        raise InputError(f"truncated or corrupt movie: movie frame {n} decodes damaged",
                                         file=self.path)
                    rgb = _rgb(frame)
                    self._pos = n
                    self._last = (n, rgb)
                    return rgb.copy()
            except _Desync:
                self._seekable = False  # what a seek gives cannot be trusted in this file
                key = None
                self._seek(None)
                continue
            if not late and not self._need_key:
                raise InputError(f"truncated or corrupt movie: the file ends before movie frame {n}", file=self.path)
            if key is None:
                raise InputError(f"movie frame {n} not found: decoding from the start met no keyframe before it",
                                 file=self.path)
            if not self._early:
                self._early = 1  # this demuxer seeks by bytes (MPEG-PS) and lands after: aim one tick before
            else:
                i = self.info.keyframes.index(key)
                key = self.info.keyframes[i - 1] if i > 0 else None
            self._seek(key)


def _rgb(frame) -> np.ndarray:
    """RGB samples of a decoded frame, with its tagged matrix and range (swscale's defaults,
    BT.601 limited range, when untagged); 16-bit for sources deeper than 8 bits."""
    deep = any(c.bits > 8 for c in frame.format.components)
    rng = frame.color_range if frame.color_range in (1, 2) else None  # 1 MPEG (limited), 2 JPEG (full)
    return frame.to_ndarray(format="rgb48le" if deep else "rgb24", src_color_range=rng)


_READERS: OrderedDict[tuple, MovieReader] = OrderedDict()
_READERS_LOCK = threading.Lock()


def _drop_readers() -> None:
    with _READERS_LOCK:
        readers = list(_READERS.values())
        _READERS.clear()
    for reader in readers:
        reader.close()


memory.register("movie readers", _drop_readers)


def movie_reader(path: str) -> MovieReader:
    """The cached reader of ``path`` (a changed file, by size or mtime, gets a new one)."""
    try:
        st = os.stat(path)
    except OSError:
        raise InputError("file does not exist", file=path) from None
    key = (os.path.abspath(path), st.st_size, st.st_mtime_ns)
    with _READERS_LOCK:
        if key in _READERS:
            _READERS.move_to_end(key)
            return _READERS[key]
    reader = MovieReader(path)  # outside the lock: indexing reads the whole file
    with _READERS_LOCK:
        reader = _READERS.setdefault(key, reader)
        _READERS.move_to_end(key)
        evicted = []
        while len(_READERS) > MAX_READERS:
            evicted.append(_READERS.popitem(last=False)[1])
    for old in evicted:
        old.close()
    return reader


def movie_info(path: str) -> MovieInfo:
    return movie_reader(path).info


def read_movie_frame(path: str, n: int, channels: str = "auto", colorspace: str = "auto") -> Image:
    """Movie frame ``n`` (0-based) as a linear float32 ``Image``: video is display-referred, so
    ``colorspace: auto`` decodes it with the sRGB curve, as PlateRead does 8-bit PNG/JPEG. The
    file's frame rate is in the metadata under :data:`FPS_KEY`."""
    names = ("R", "G", "B")
    if channels == "auto":
        wanted = list(names)
    else:
        wanted = [c.strip() for c in channels.split(",") if c.strip()]
        missing = [c for c in wanted if c not in names]
        if missing or not wanted:
            raise InputError(f"no channel {', '.join(missing) or '(none named)'} (movies have R, G, B)", file=path,
                             param="channels")
    reader = movie_reader(path)
    rgb = reader.frame(n)
    code = np.float32(np.iinfo(rgb.dtype).max)
    pixels = rgb[..., [names.index(c) for c in wanted]].astype(np.float32) / code
    transfer = "srgb" if colorspace == "auto" else colorspace
    pixels = np.ascontiguousarray(to_linear(pixels, transfer), dtype=np.float32)
    info = reader.info
    md = {"facewarp:source": path, "facewarp:source_transfer": transfer, "facewarp:source_nonfinite": 0,
          "facewarp:source_movie_frame": n, "facewarp:source_codec": info.codec, FPS_KEY: float(info.fps)}
    return Image(pixels, tuple(wanted), "lin_rec709", md)
