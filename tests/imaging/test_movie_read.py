"""Movies read frame-exactly: every frame found by seeking equals the one a plain sequential
PyAV decode of the whole file gives, bit for bit; truncated files error, never give garbage.

The movies are written here (imaging/movie.py write_mp4, or PyAV for the other containers); the
reference frames come from decoding them from the start with PyAV directly, not through the reader.
"""

from __future__ import annotations

import random
import threading
from fractions import Fraction

import av
import numpy as np
import pytest

from facewarp.core import memory
from facewarp.core.color import srgb_to_linear
from facewarp.core.conventions import FPS_KEY
from facewarp.core.errors import InputError
from facewarp.imaging.movie import write_mp4
from facewarp.imaging.movie_read import MovieReader, movie_reader, read_movie_frame

N = 40
GOP = 8


def _frames(n=N, h=64, w=96):
    """A moving gradient and square: every frame differs from its neighbours."""
    yy, xx = np.mgrid[0:h, 0:w]
    out = []
    for i in range(n):
        f = np.stack([(xx * 255 / w + 9 * i) % 256, yy * 255 / h, np.full_like(xx, 37 * i % 256)], -1)
        f[10:30, (3 * i) % 60:(3 * i) % 60 + 20] = (250, 250, 20)
        out.append(f.astype(np.uint8))
    return out


def _sequential(path):
    """Reference: every frame decoded from the start by PyAV, and what the stream header says."""
    with av.open(path) as container:
        stream = container.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
        return frames, stream.frames, Fraction(stream.average_rate)


@pytest.fixture(scope="module")
def mp4(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("movie") / "clip.mp4")
    write_mp4(_frames(), path, fps=24, keyframe_interval=GOP, faststart=True)
    return path


def _all_equal(reader, reference, order):
    return [n for n in order if not np.array_equal(reader.frame(n), reference[n])]


def test_every_frame_by_seek_equals_the_sequential_decode(mp4):
    reference, declared, rate = _sequential(mp4)
    reader = MovieReader(mp4)
    assert reader.info.frames == len(reference) == declared == N
    assert reader.info.fps == rate
    assert len(reader.info.keyframes) > 2  # seeks land on several keyframes, not only frame 0
    assert _all_equal(reader, reference, range(N - 1, -1, -1)) == []
    assert reader.seeks == N  # backwards: every read sought
    order = list(range(N))
    random.Random(3).shuffle(order)
    assert _all_equal(MovieReader(mp4), reference, order) == []


def test_sequential_reads_decode_on_without_seeking(mp4):
    reference, _, _ = _sequential(mp4)
    reader = MovieReader(mp4)
    assert _all_equal(reader, reference, range(13, N)) == []  # a farm chunk starting mid-clip
    assert reader.seeks == 1
    assert np.array_equal(reader.frame(N - 1), reference[N - 1]) and reader.seeks == 1  # the same frame again
    assert np.array_equal(reader.frame(2), reference[2]) and reader.seeks == 2  # going back seeks


@pytest.mark.parametrize("ext, fmt, codec", [("mpg", "mpeg", "mpeg1video"), ("avi", "avi", "mpeg4"),
                                             ("mkv", "matroska", "libx264"), ("mov", "mov", "libx264"),
                                             ("m4v", "mp4", "libx264")])
def test_other_containers_are_frame_exact(tmp_path, ext, fmt, codec):
    path = str(tmp_path / f"clip.{ext}")
    with av.open(path, "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=25)
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        stream.codec_context.gop_size = GOP
        for f in _frames(30):
            for packet in stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    reference, _, rate = _sequential(path)
    reader = MovieReader(path)
    assert reader.info.frames == len(reference) == 30 and reader.info.fps == rate
    assert _all_equal(reader, reference, range(29, -1, -1)) == []
    if ext == "mpg":  # the MPEG-PS muxer starts at a non-zero pts: frame 0 is still the first one
        assert reader.info.pts[0] > 0


def test_read_movie_frame_is_linear_rgb_with_the_files_fps(mp4):
    reference, _, rate = _sequential(mp4)
    image = read_movie_frame(mp4, 17)
    assert image.channels == ("R", "G", "B") and image.pixels.dtype == np.float32
    assert np.array_equal(image.pixels, srgb_to_linear(reference[17] / np.float32(255)))
    assert image.metadata[FPS_KEY] == float(rate) and image.metadata["facewarp:source_transfer"] == "srgb"
    raw = read_movie_frame(mp4, 17, channels="G", colorspace="linear")
    assert raw.channels == ("G",) and np.array_equal(raw.pixels[..., 0], reference[17][..., 1] / np.float32(255))
    with pytest.raises(InputError) as info:
        read_movie_frame(mp4, 0, channels="R,G,B,A")
    assert info.value.param == "channels" and "no channel A" in str(info.value)


def test_a_frame_past_the_end_is_an_error(mp4):
    with pytest.raises(InputError) as info:
        MovieReader(mp4).frame(N)
    assert info.value.file == mp4 and f"movie frame {N} is past the movie's end" in str(info.value)


def test_truncated_movies_error_and_never_return_garbage(tmp_path, mp4):
    reference, _, _ = _sequential(mp4)
    data = open(mp4, "rb").read()
    half = tmp_path / "half.mp4"  # faststart: the index survives, half of the pictures do not
    half.write_bytes(data[:len(data) // 2])
    reader = MovieReader(str(half))
    assert reader.info.frames == N  # what the header declares
    good, bad = [], []
    for n in range(N):
        try:
            pixels = reader.frame(n)
        except InputError as exc:
            assert "truncated or corrupt movie" in str(exc) and exc.file == str(half)
            bad.append(n)
        else:
            assert np.array_equal(pixels, reference[n]), f"frame {n} decoded differently"
            good.append(n)
    assert good and bad and max(good) < min(bad)  # readable up to the cut, errors after it
    assert good == [n for n in range(N) if reader.info.readable(n)]

    late = tmp_path / "late.mp4"  # index (moov) at the end: a cut file cannot be opened at all
    write_mp4(_frames(), str(late), fps=24)
    late.write_bytes(late.read_bytes()[: late.stat().st_size // 2])
    with pytest.raises(InputError) as info:
        MovieReader(str(late))
    assert str(info.value).startswith(f"file '{late}': cannot read movie")


def test_not_a_movie_and_a_missing_file(tmp_path):
    junk = tmp_path / "junk.mov"
    junk.write_bytes(b"not a movie at all" * 10)
    with pytest.raises(InputError, match="cannot read movie"):
        movie_reader(str(junk))
    with pytest.raises(InputError, match="file does not exist"):
        movie_reader(str(tmp_path / "none.mp4"))


def test_readers_are_cached_freed_and_renewed(tmp_path, mp4):
    reader = movie_reader(mp4)
    assert movie_reader(mp4) is reader and "movie readers" in memory.cache_names()
    reader.frame(3)
    memory.free_memory()
    assert movie_reader(mp4) is not reader
    assert np.array_equal(reader.frame(4), _sequential(mp4)[0][4])  # a dropped reader reopens its file
    path = str(tmp_path / "changing.mp4")
    write_mp4(_frames(10), path, fps=24)
    first = movie_reader(path)
    write_mp4(_frames(12), path, fps=24, overwrite=True)
    assert movie_reader(path) is not first and movie_reader(path).info.frames == 12


def test_one_reader_from_several_threads(mp4):
    reference, _, _ = _sequential(mp4)
    reader = MovieReader(mp4)
    wrong: list[int] = []

    def work(seed):
        order = list(range(N))
        random.Random(seed).shuffle(order)
        wrong.extend(_all_equal(reader, reference, order))

    threads = [threading.Thread(target=work, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads) and wrong == []


def _with_gap(path, skip=3, n=12):
    """An mkv whose timestamps (1/25 s) skip frame ``skip``, as a source dropping a frame writes."""
    with av.open(path, "w", format="matroska") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        stream.codec_context.gop_size = 4
        for i, f in enumerate(_frames(n)):
            frame = av.VideoFrame.from_ndarray(f, format="rgb24")
            frame.pts, frame.time_base = i + (i >= skip), Fraction(1, 25)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def test_a_gap_in_the_timestamps_is_a_missing_frame_not_a_shift(tmp_path):
    path = _with_gap(str(tmp_path / "gap.mkv"))
    reference, _, _ = _sequential(path)
    reader = MovieReader(path)
    assert reader.info.frames == 13 and reader.info.gaps == {3}
    numbers = [n for n in range(13) if n != 3]  # decoded frame i is movie frame i, or i + 1 after the gap
    assert [n for i, n in reversed(list(enumerate(numbers))) if not np.array_equal(reader.frame(n), reference[i])] == []
    with pytest.raises(InputError, match="movie frame 3 has no picture: the movie's timestamps skip it"):
        reader.frame(3)
