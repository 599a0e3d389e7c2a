"""The GRID driving clip (../shared/data/driving/grid_swiz3n.mpg, MPEG-1 in an MPEG program stream,
see ../shared/data/MANIFEST.md): all 75 frames found by seeking equal a sequential PyAV decode, bit
for bit; a copy cut in half errors past the cut; a remux starting at a non-zero pts reads the same.
Skipped with the reason when ../shared is absent."""

from __future__ import annotations

import random
from fractions import Fraction

import av
import numpy as np

from facewarp.core.errors import InputError
from facewarp.imaging.movie_read import MovieReader


def _sequential(path):
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [(f.pts, f.to_ndarray(format="rgb24")) for f in container.decode(stream)]
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        packets = sum(1 for p in container.demux(stream) if p.size)
        seconds = float(stream.duration * stream.time_base)
        return frames, packets, Fraction(stream.average_rate), seconds


def test_every_grid_frame_by_seek_equals_the_sequential_decode(driving_clip_path):
    frames, packets, rate, seconds = _sequential(driving_clip_path)
    reference = [px for _, px in frames]
    reader = MovieReader(str(driving_clip_path))
    info = reader.info
    assert info.frames == len(reference) == packets  # 75 per the manifest
    assert info.fps == rate and abs(info.frames - seconds * float(rate)) <= 1  # 25 fps, ~3 s
    assert (info.width, info.height) == reference[0].shape[1::-1]
    assert len(info.keyframes) > 3
    for order in (range(info.frames - 1, -1, -1), random.Random(7).sample(range(info.frames), info.frames)):
        fresh = MovieReader(str(driving_clip_path))
        wrong = [n for n in order if not np.array_equal(fresh.frame(n), reference[n])]
        assert wrong == []  # all 75 frames, backwards (a seek per frame) and in random order
    assert fresh.seeks > info.frames // 2


def test_a_remux_with_a_non_zero_first_pts_reads_the_same_frames(driving_clip_path, tmp_path):
    remux = str(tmp_path / "remux.mpg")  # same packets; the MPEG-PS muxer starts at pts 0.5 s
    with av.open(str(driving_clip_path)) as src, av.open(remux, "w", format="mpeg") as dst:
        out = dst.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = out
                dst.mux(packet)
    frames, _, _, _ = _sequential(driving_clip_path)
    reader = MovieReader(remux)
    assert reader.info.pts[0] > 0 and reader.info.frames == len(frames)
    assert [n for n in range(len(frames) - 1, -1, -1) if not np.array_equal(reader.frame(n), frames[n][1])] == []


def test_a_grid_clip_cut_in_half_errors_past_the_cut(driving_clip_path, tmp_path):
    frames, _, _, _ = _sequential(driving_clip_path)
    data = driving_clip_path.read_bytes()
    half = tmp_path / "half.mpg"
    half.write_bytes(data[:len(data) // 2])
    reader = MovieReader(str(half))
    good, bad = [], []
    for n in list(range(len(frames)))[::-1] + list(range(len(frames))):  # by seeking, then sequentially
        try:
            pixels = reader.frame(n)
        except InputError as exc:
            assert exc.file == str(half) and ("past the movie's end" in str(exc) or "truncated" in str(exc))
            bad.append(n)
        else:
            assert np.array_equal(pixels, frames[n][1]), f"frame {n} is not the original's"
            good.append(n)
    assert good and bad and max(good) < min(bad) and len(set(good)) < len(frames) * 0.6
