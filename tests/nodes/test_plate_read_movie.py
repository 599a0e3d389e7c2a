"""PlateRead on a movie: frame numbers from first_frame (and offset, frames, missing), the file's fps
on every image, the range for `facewarp run` without --frames, one-line errors naming node, param
'path', file and frame; in a graph and in a preset run by the command line.

Expected pixels come from decoding the movie with PyAV directly (not through facewarp's reader)."""

from __future__ import annotations

import os
from fractions import Fraction

import av
import numpy as np
import pytest

from facewarp.core.color import srgb_to_linear
from facewarp.core.conventions import FPS_KEY
from facewarp.core.errors import EXIT_INVALID, InputError
from facewarp.graph import Context, Evaluator, Graph, render
from facewarp.imaging.movie import write_mp4
from facewarp.imaging.plates import read_plate

N = 24


def _frames(n=N, h=48, w=64):
    yy, xx = np.mgrid[0:h, 0:w]
    return [np.stack([(xx * 4 + 11 * i) % 256, yy * 5 % 256, np.full_like(xx, 29 * i % 256)], -1).astype(np.uint8)
            for i in range(n)]


@pytest.fixture(scope="module")
def movie(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("plate_read_movie") / "drive.mp4")
    write_mp4(_frames(), path, fps=25, keyframe_interval=6, faststart=True)
    with av.open(path) as container:
        stream = container.streams.video[0]
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
        return path, decoded, float(Fraction(stream.average_rate))


def _linear(rgb):
    return srgb_to_linear(rgb / np.float32(255))


def _graph(path, **params):
    g = Graph()
    g.add("PlateRead", "read", {"path": path, **params})
    return g


def _pull(g, frame, frames=None):
    return Evaluator(g).pull("read", Context(frame=frame, frames=frames or (frame,)))["image"]


def test_first_frame_offset_and_fps(movie):
    path, decoded, fps = movie
    g = _graph(path)
    assert g.nodes["read"].frames_available(Context(frames=())) == tuple(range(1001, 1001 + len(decoded)))
    image = _pull(g, 1001)
    assert np.array_equal(image.pixels, _linear(decoded[0])) and image.channels == ("R", "G", "B")
    assert image.metadata[FPS_KEY] == fps
    ev = Evaluator(_graph(path, first_frame=1, offset=-100))  # evaluated 105 -> movie frame 5 -> index 4
    ctx = Context(frame=105, frames=(105,))
    assert np.array_equal(ev.pull("read", ctx)["image"].pixels, _linear(decoded[4]))
    assert _graph(path, first_frame=1, offset=-100).nodes["read"].frames_available(Context(frames=()))[:2] == (101, 102)


def test_every_frame_of_a_range_in_order_and_out_of_order(movie):
    path, decoded, _ = movie
    g = _graph(path)
    frames = tuple(range(1001, 1001 + N))
    ev = Evaluator(g)
    for f in list(frames[::-1]) + list(frames[5:]):
        assert np.array_equal(ev.pull("read", Context(frame=f, frames=frames))["image"].pixels, _linear(decoded[f - 1001]))
        ev.clear()


def test_past_the_end_is_an_error_or_held_or_black(movie):
    path, decoded, _ = movie
    last = 1000 + N
    with pytest.raises(InputError) as info:
        _pull(_graph(path), last + 2)
    assert str(info.value) == (f"node 'read' (PlateRead), param 'path', file '{path}', frame {last + 2}: frame "
                               f"{last + 2} is past the movie's end: the movie has frames 1001-{last} (first_frame 1001)")
    assert info.value.exit_code == EXIT_INVALID
    held = _pull(_graph(path, missing="hold"), last + 2)
    assert np.array_equal(held.pixels, _linear(decoded[-1]))
    black = _pull(_graph(path, missing="black"), 990)
    assert not black.pixels.any() and black.metadata["facewarp:missing_frame"] == 990
    listed = _pull(_graph(path, frames="1001-1004", missing="hold"), 1010)  # the frames list cuts the movie
    assert np.array_equal(listed.pixels, _linear(decoded[3]))


def test_validation_names_frames_outside_the_movie_and_lost_ones(movie, tmp_path):
    path, _, _ = movie
    problems = _graph(path).problems(Context(frames=tuple(range(995, 1011))))
    assert [str(p) for p in problems] == [
        f"node 'read' (PlateRead), param 'path', file '{path}', frame 995: frame 995 is before the movie's start: "
        f"the movie has frames 1001-{1000 + N} (first_frame 1001); 6 frames of the range are outside it"]
    assert _graph(path, missing="hold").problems(Context(frames=tuple(range(995, 1011)))) == []
    half = tmp_path / "half.mp4"
    data = open(path, "rb").read()
    half.write_bytes(data[:len(data) // 2])
    g = _graph(str(half))
    frames = g.nodes["read"].frames_available(Context(frames=()))
    assert frames == tuple(range(1001, 1001 + N))  # the range the header declares: the cut is not hidden
    (problem,) = g.problems(Context(frames=frames))
    assert isinstance(problem, InputError) and problem.param == "path" and problem.file == str(half)
    assert "truncated or corrupt movie" in str(problem)
    ev = Evaluator(g)
    ev.pull("read", Context(frame=1001, frames=frames))
    with pytest.raises(InputError) as info:
        ev.pull("read", Context(frame=problem.frame, frames=frames))
    assert str(info.value).startswith(f"node 'read' (PlateRead), param 'path', file '{half}', frame {problem.frame}: "
                                      "truncated or corrupt movie")


def test_a_missing_or_unreadable_movie(tmp_path):
    missing = str(tmp_path / "none.mov")
    assert [str(p) for p in _graph(missing).problems(Context(frames=(1001,)))] == [
        f"node 'read' (PlateRead), param 'path', file '{missing}': input file does not exist"]
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\0" * 4096)
    (problem,) = _graph(str(junk)).problems(Context(frames=(1001,)))
    assert str(problem).startswith(f"node 'read' (PlateRead), param 'path', file '{junk}': cannot read movie")
    with pytest.raises(InputError) as info:
        _pull(_graph(str(junk)), 1001)
    assert str(info.value).startswith(f"node 'read' (PlateRead), param 'path', file '{junk}', frame 1001: cannot read movie")


def test_a_graph_renders_the_movie_to_frames(movie, tmp_path):
    path, decoded, fps = movie
    g = _graph(path)
    g.add("Grade", "grade", {"gain": 1.0})
    g.add("PlateWrite", "write", {"path": str(tmp_path / "out" / "f.####.exr"), "exr_pixel_type": "float"})
    g.connect("read.image", "grade.image")
    g.connect("grade.image", "write.image")
    g.outputs.append("write")
    frames = g.nodes["read"].frames_available(Context(frames=()))
    render(g, Context(frames=frames), output_root=str(tmp_path))
    written = sorted(os.listdir(tmp_path / "out"))
    assert written == [f"f.{f}.exr" for f in frames]
    out = read_plate(str(tmp_path / "out" / f"f.{1010}.exr"))
    assert np.allclose(out.pixels, _linear(decoded[9]), atol=1e-6)
    assert out.metadata.get(FPS_KEY) == pytest.approx(fps)  # the key travels through EXR attributes


def test_a_preset_run_without_frames_renders_the_movies_frames(movie, tmp_path):
    from _cli import facewarp

    path, decoded, _ = movie
    (tmp_path / "movie.yaml").write_text(
        "facewarp: 1\n"
        "description: read a movie, write PNG frames\n"
        "vars:\n"
        f"  clip: {{type: path, default: '{path}', doc: driving movie}}\n"
        "nodes:\n"
        "  read: {type: PlateRead, params: {path: '${clip}', first_frame: 1}}\n"
        "  write: {type: PlateWrite, params: {path: out/m.####.png, bit_depth: 8}, inputs: {image: read.image}}\n"
        "outputs: [write]\n")
    code, out, err = facewarp("run", "movie.yaml", cwd=tmp_path)
    assert code == 0, err
    assert sorted(os.listdir(tmp_path / "out")) == [f"m.{f:04d}.png" for f in range(1, N + 1)]
    png = read_plate(str(tmp_path / "out" / "m.0007.png"), colorspace="linear")  # the 8-bit codes as written
    assert np.array_equal(np.round(png.pixels * 255).astype(np.uint8), decoded[6])


def test_the_grid_clip_and_a_copy_cut_in_half(driving_clip_path, tmp_path):
    path = str(driving_clip_path)
    with av.open(path) as container:
        stream = container.streams.video[0]
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
        fps = float(Fraction(stream.average_rate))
    g = _graph(path)
    frames = g.nodes["read"].frames_available(Context(frames=()))
    assert frames == tuple(range(1001, 1001 + len(decoded))) and g.problems(Context(frames=frames)) == []
    image = _pull(g, 1040, frames)
    assert np.array_equal(image.pixels, _linear(decoded[39])) and image.metadata[FPS_KEY] == fps
    half = tmp_path / "grid_half.mpg"
    data = driving_clip_path.read_bytes()
    half.write_bytes(data[:len(data) // 2])
    g = _graph(str(half))
    frames = g.nodes["read"].frames_available(Context(frames=()))
    assert 1001 < frames[-1] < 1001 + len(decoded) * 0.6  # no frame count in an MPEG-PS header: what the file holds
    (problem,) = g.problems(Context(frames=frames))  # its last picture is partial: validate decodes it and says so
    assert str(problem).startswith(f"node 'read' (PlateRead), param 'path', file '{half}', frame {frames[-1]}: "
                                   "truncated or corrupt movie")
    with pytest.raises(InputError, match="past the movie's end"):
        _pull(g, frames[-1] + 1)


def test_a_chunk_starting_mid_clip_seeks_once(movie):
    from facewarp.imaging.movie_read import movie_reader

    path, decoded, _ = movie
    g = _graph(path)
    reader = movie_reader(path)
    reader.frame(0)  # the decoder somewhere else first
    before = reader.seeks
    chunk = tuple(range(1010, 1021))
    ev = Evaluator(g)
    for f in chunk:
        assert np.array_equal(ev.pull("read", Context(frame=f, frames=chunk))["image"].pixels, _linear(decoded[f - 1001]))
    assert movie_reader(path) is reader and reader.seeks == before + 1


def test_a_frame_the_timestamps_skip_follows_the_missing_policy(tmp_path):
    path = str(tmp_path / "gap.mkv")  # timestamps (1/25 s) skip frame 3, as a source dropping a frame writes
    with av.open(path, "w", format="matroska") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i, f in enumerate(_frames(12)):
            frame = av.VideoFrame.from_ndarray(f, format="rgb24")
            frame.pts, frame.time_base = i + (i >= 3), Fraction(1, 25)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    with av.open(path) as container:
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    g = _graph(path)
    assert g.nodes["read"].frames_available(Context(frames=())) == (1001, 1002, 1003, *range(1005, 1014))
    (problem,) = g.problems(Context(frames=tuple(range(1001, 1014))))
    assert str(problem) == (f"node 'read' (PlateRead), param 'path', file '{path}', frame 1004: frame 1004 is not "
                            "in the movie: its timestamps skip it")
    assert np.array_equal(_pull(_graph(path, missing="hold"), 1004).pixels, _linear(decoded[2]))
    assert np.array_equal(_pull(g, 1005).pixels, _linear(decoded[3]))
