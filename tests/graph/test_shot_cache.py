"""The shot cache (graph/shot_cache.py): exact round trips, chunks reuse one computation of the
sequence nodes, and a stale, foreign or corrupt file is recomputed, never used."""

from __future__ import annotations

import json
import math
import os

import _nodes  # noqa: F401  (registers the test node types)
import numpy as np
import pytest
from _nodes import CALLS

from facewarp.core.types import Camera, Displacement, FlameParams, Image, Landmarks, Mask, Mesh, Transform2D
from facewarp.graph import Context, Graph, ValidationError, render, render_loop
from facewarp.graph import shot_cache as sc
from facewarp.graph.render_loop import prepare_shot
from facewarp.imaging.plates import read_plate, write_plate

SHOT = (1, 2, 3, 4, 5, 6)


@pytest.fixture(autouse=True)
def _reset(tmp_path, monkeypatch):
    CALLS.clear()
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FACEWARP_OUTPUT_ROOT", raising=False)


def same(a, b) -> bool:
    """Equal in type, dtype, shape and bits, recursively."""
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    if isinstance(a, np.generic):
        return a.dtype == b.dtype and a.tobytes() == b.tobytes()
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if hasattr(a, "__dataclass_fields__"):
        return all(same(getattr(a, f), getattr(b, f)) for f in a.__dataclass_fields__)
    return a == b


def sample_values():
    rng = np.random.default_rng(3)
    cam = Camera("pinhole", (np.float64(1234.5), 1200.25, 640.0, 360.0), (1280, 720))
    info = {"status": "found", "score": np.float32(0.8507716), "box": (1.5, 2.25, 3.0, 4.0), "faces": 1,
            "raw": rng.random((478, 2), dtype=np.float32), "nan": math.nan, "inf": -math.inf, "neg0": -0.0,
            "nested": {"a": [1, (2, 3)], 7: "int key", "none": None}, "big": 2**70, "flag": np.bool_(True)}
    return {
        "landmarks": Landmarks(rng.random((478, 2)) * 100, rng.random(478), "mediapipe478", (1280, 720), True, info),
        "params": FlameParams(rng.random(100, dtype=np.float32), rng.random(50, dtype=np.float32),
                              {"global": np.zeros(3, np.float32), "jaw": rng.random(3, dtype=np.float32)},
                              rng.random(3, dtype=np.float32), cam, "default", {"reprojection_px": 0.123456789}),
        "mesh": Mesh(rng.random((20, 3)), rng.integers(0, 20, (30, 3)), cam,
                     {"plate_xy": rng.random((20, 2), dtype=np.float32)}),
        "image": Image(rng.random((4, 5, 4), dtype=np.float32), ("R", "G", "B", "A"), metadata={"k": "v", "n": 3}),
        "disp": Displacement(rng.random((4, 5, 2), dtype=np.float32), border="reflect"),
        "mask": Mask(rng.random((4, 5), dtype=np.float32)),
        "xform": Transform2D(rng.random((2, 3)), (256, 256), (1280, 720)),
        "f64": rng.random((3, 3)),  # any array keeps its dtype
        "fortran": np.asfortranarray(rng.random((3, 4))),
        "plain": {"list": [1, 2.5, "x", None, True], "tuple": (), "empty": {}},
    }


def test_round_trip_is_exact():
    values = sample_values()
    tree, arrays = sc.encode_values(values)
    json.dumps(tree, allow_nan=False)  # strict JSON: NaN/inf are tagged
    back = sc.decode_values(json.loads(json.dumps(tree)), arrays)
    assert same(values, back)
    assert type(back["landmarks"].info["box"]) is tuple and 7 in back["landmarks"].info["nested"]
    assert back["params"].camera.params[0].dtype == np.float64


def test_round_trip_through_the_file_is_exact(tmp_path):
    values = sample_values()
    path = str(tmp_path / "c.fwshot.npz")
    parts = {"k": 1}
    use = ("n", (1, 2))
    sc.write_cache(path, parts, [(use, "T", {1: values, 2: values})])
    loaded = sc.read_cache(path, parts, [use])
    assert loaded.status == "ok"
    assert same(loaded.results[use][1], values) and same(loaded.results[use][2], values)
    # identical arrays are stored once, and each use gets its own copy
    assert loaded.results[use][1]["f64"] is not loaded.results[use][2]["f64"]
    with np.load(path, allow_pickle=False) as npz:
        assert len(npz.files) - 1 == len(sc.encode_values(values)[1])


def test_unstorable_values_are_left_out_of_info_only():
    lm = Landmarks(np.zeros((3, 2)), info={"ok": 1, "callback": print, "obj": object()})
    tree, arrays = sc.encode_values(lm)
    assert sc.decode_values(tree, arrays).info == {"ok": 1}
    with pytest.raises(TypeError, match="builtin_function_or_method"):
        sc.encode_values({"x": print})
    with pytest.raises(TypeError, match="Python objects"):
        sc.encode_values(np.array([object()]))


def seq_graph(tmp_path, scale=1.0):
    """src (pixels = frame * scale) -> mean over the shot -> PlateWrite (float EXR)."""
    g = Graph()
    g.add("TestFrameSource", "src", {"scale": scale})
    g.add("TestSequenceMean", "mean")
    g.add("PlateWrite", "write", {"path": str(tmp_path / "out" / "o.####.exr"), "exr_pixel_type": "float"})
    g.connect("src.image", "mean.image")
    g.connect("mean.image", "write.image")
    g.outputs.append("write")
    return g


def value(tmp_path, f):
    return float(read_plate(str(tmp_path / "out" / f"o.{f:04d}.exr")).pixels.mean())


def test_chunks_compute_the_sequence_nodes_once_over_the_shot(tmp_path):
    notes = []
    r1 = render(seq_graph(tmp_path), Context(frames=SHOT), frames=(1, 2), shot_cache=True, note=notes.append)
    path = str(tmp_path / "out" / f"graph.shot-1-6{sc.CACHE_SUFFIX}")
    assert r1.shot_cache.status == "computed" and r1.shot_cache.path == path and os.path.isfile(path)
    assert r1.stats_json()["shot_cache"] == {"path": path, "status": "computed", "nodes": ["mean"]}
    assert CALLS["mean"] == 1
    r2 = render(seq_graph(tmp_path), Context(frames=SHOT), frames=(3, 4, 5, 6), shot_cache=True, note=notes.append)
    assert r2.shot_cache.status == "loaded" and CALLS["mean"] == 1  # not computed again
    assert CALLS["src"] == len(SHOT)  # the first chunk read the shot; the second nothing upstream of it
    assert notes == []
    assert [value(tmp_path, f) for f in SHOT] == [np.mean(SHOT)] * len(SHOT)


def test_prepare_shot_writes_the_cache_that_chunks_load(tmp_path):
    done = prepare_shot(seq_graph(tmp_path), Context(frames=SHOT))
    assert done.status == "computed" and not list((tmp_path / "out").glob("o.*"))  # nothing rendered
    assert prepare_shot(seq_graph(tmp_path), Context(frames=SHOT)).status == "loaded"
    r = render(seq_graph(tmp_path), Context(frames=SHOT, write_mode="skip"), frames=(6,), shot_cache=True)
    assert r.shot_cache.status == "loaded" and CALLS["mean"] == 1 and value(tmp_path, 6) == np.mean(SHOT)


def test_prepare_shot_keeps_nothing_it_read(tmp_path, monkeypatch):
    """The first step renders nothing: what the sequence nodes pulled (plates) is not cached for later."""
    made = []

    class Recording(render_loop.Evaluator):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(render_loop, "Evaluator", Recording)
    assert prepare_shot(seq_graph(tmp_path), Context(frames=SHOT)).status == "computed"
    assert len(made) == 1 and len(made[0].cache) == 0 and made[0].cache.bytes == 0
    assert CALLS["src"] == len(SHOT)


def test_without_a_shot_cache_nothing_is_written(tmp_path):
    r = render(seq_graph(tmp_path), Context(frames=SHOT), frames=(1,))
    assert r.shot_cache is None and "shot_cache" not in r.stats_json()
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["o.0001.exr"]


def test_a_stale_cache_is_recomputed_with_a_note(tmp_path):
    render(seq_graph(tmp_path), Context(frames=SHOT), frames=(1,), shot_cache=True)
    notes = []
    r = render(seq_graph(tmp_path, scale=2.0), Context(frames=SHOT), frames=(2,), shot_cache=True, note=notes.append)
    assert r.shot_cache.status == "computed" and CALLS["mean"] == 2
    assert len(notes) == 1 and "is stale (the sequence nodes or their parameters changed); recomputing" in notes[0]
    assert value(tmp_path, 2) == 2 * np.mean(SHOT)
    notes.clear()  # other variables
    render(seq_graph(tmp_path, scale=2.0), Context(frames=SHOT, variables={"x": 1}), frames=(3,), shot_cache=True,
           note=notes.append)
    assert "the variables differ" in notes[0]


def test_another_shot_range_has_its_own_file(tmp_path):
    render(seq_graph(tmp_path), Context(frames=SHOT), frames=(1,), shot_cache=True)
    r = render(seq_graph(tmp_path), Context(frames=(1, 2, 3)), frames=(2,), shot_cache=True)
    assert r.shot_cache.status == "computed" and r.shot_cache.path.endswith(f"graph.shot-1-3{sc.CACHE_SUFFIX}")
    assert value(tmp_path, 2) == 2.0


def test_a_changed_input_file_makes_the_cache_stale(tmp_path):
    for f in SHOT:
        write_plate(str(tmp_path / "plates" / f"p.{f:04d}.exr"), Image(np.full((4, 4, 3), f, np.float32)),
                    pixel_type="float")
    g = Graph()
    g.add("PlateRead", "read", {"path": str(tmp_path / "plates" / "p.####.exr")})
    g.add("TestSequenceMean", "mean")
    g.add("PlateWrite", "write", {"path": str(tmp_path / "out" / "o.####.exr"), "exr_pixel_type": "float"})
    g.connect("read.image", "mean.image")
    g.connect("mean.image", "write.image")
    g.outputs.append("write")
    render(g, Context(frames=SHOT), frames=(1,), shot_cache=True)
    write_plate(str(tmp_path / "plates" / "p.0006.exr"), Image(np.full((4, 4, 3), 12, np.float32)),
                pixel_type="float", overwrite=True)
    notes = []
    r = render(g, Context(frames=SHOT), frames=(2,), shot_cache=True, note=notes.append)
    assert r.shot_cache.status == "computed" and "input files changed" in notes[0]
    assert value(tmp_path, 2) == np.mean([1, 2, 3, 4, 5, 12])


@pytest.mark.parametrize("content, status", [
    (b"garbage, not a zip", "corrupt"),
    ("truncated", "corrupt"),
    ("pickle", "corrupt"),
    ("no header", "foreign"),
    ("other format", "foreign"),
    ("other version", "foreign"),
    ("edited", "corrupt"),
])
def test_a_corrupt_or_foreign_cache_is_never_used(tmp_path, content, status):
    first = render(seq_graph(tmp_path), Context(frames=SHOT), frames=(1,), shot_cache=True)
    path = first.shot_cache.path
    good = open(path, "rb").read()
    if content == "truncated":
        data = good[: len(good) // 2]
    elif content == "pickle":  # an object array is a pickle: np.load(allow_pickle=False) refuses it
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        arrays["a0"] = np.array([object()], dtype=object)
        with open(path, "wb") as fh:
            np.savez(fh, **arrays)
        data = None
    elif isinstance(content, bytes):
        data = content
    else:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        header = json.loads(bytes(arrays["header"]))
        if content == "no header":
            del arrays["header"]
        else:
            if content == "other format":
                header["format"] = "something-else"
            elif content == "other version":
                header["version"] = 99
            elif content == "edited":  # a forged key over other parts
                header["parts"]["fps"] = 1.0
            arrays["header"] = np.frombuffer(json.dumps(header).encode(), np.uint8)
        with open(path, "wb") as fh:
            np.savez(fh, **arrays)
        data = None
    if data is not None:
        with open(path, "wb") as fh:
            fh.write(data)
    notes = []
    r = render(seq_graph(tmp_path), Context(frames=SHOT), frames=(2,), shot_cache=True, note=notes.append)
    assert r.shot_cache.status == "computed" and CALLS["mean"] == 2
    assert len(notes) == 1 and f"is {status} (" in notes[0] and notes[0].endswith("recomputing it")
    assert value(tmp_path, 2) == np.mean(SHOT)
    ctx = Context(frames=SHOT, frame=1)
    uses = sc.sequence_uses(seq_graph(tmp_path), ctx)
    assert uses == [("mean", SHOT)]
    assert sc.read_cache(path, sc.key_parts(seq_graph(tmp_path), ctx), uses).status == "ok"


def test_the_cache_file_is_checked_like_an_output(tmp_path):
    outside = tmp_path.parent / "elsewhere.fwshot.npz"
    with pytest.raises(ValidationError, match="outside the output root"):
        render(seq_graph(tmp_path), Context(frames=SHOT), frames=(1,), shot_cache=str(outside))
    assert not (tmp_path / "out").exists()  # refused before computing


def test_skip_with_every_frame_done_does_not_touch_the_cache(tmp_path):
    render(seq_graph(tmp_path), Context(frames=SHOT), frames=(1, 2))
    r = render(seq_graph(tmp_path), Context(frames=SHOT, write_mode="skip"), frames=(1, 2), shot_cache=True)
    assert r.frames == () and r.shot_cache is None and not list((tmp_path / "out").glob("*.npz"))


def test_graphs_without_sequence_nodes_need_no_file(tmp_path):
    g = seq_graph(tmp_path)
    g.nodes["mean"].bypass = True  # still a sequence node: cached generically
    r = render(g, Context(frames=SHOT), frames=(1,), shot_cache=True)
    assert r.shot_cache.status == "computed"
    g = Graph()
    g.add("TestFrameSource", "src")
    g.add("PlateWrite", "write", {"path": str(tmp_path / "out2" / "o.####.exr")})
    g.connect("src.image", "write.image")
    g.outputs.append("write")
    r = render(g, Context(frames=SHOT), frames=(1,), shot_cache=True)
    assert r.shot_cache.status == "none" and not list((tmp_path / "out2").glob("*.npz"))


def test_a_range_narrowed_downstream_is_cached_as_evaluated(tmp_path):
    from facewarp.graph import registry

    if "FrameHold" not in registry.node_types():
        pytest.skip("no FrameHold node type")
    g = Graph()
    g.add("TestFrameSource", "src")
    g.add("TestSequenceMean", "mean")  # over the held frame only: the value of frame 1
    g.add("FrameHold", "hold")
    g.add("PlateWrite", "write", {"path": str(tmp_path / "out" / "o.####.exr"), "exr_pixel_type": "float"})
    g.connect("src.image", "mean.image")
    g.connect("mean.image", "hold.input")
    g.connect("hold.output", "write.image")
    g.outputs.append("write")
    assert sc.sequence_uses(g, Context(frames=SHOT)) == [("mean", (1,))]
    r = render(g, Context(frames=SHOT), frames=(4, 5), shot_cache=True)
    assert r.shot_cache.status == "computed" and CALLS == {"src": 1, "mean": 1}
    r = render(g, Context(frames=SHOT), frames=(6,), shot_cache=True)
    assert r.shot_cache.status == "loaded" and CALLS == {"src": 1, "mean": 1}
    assert [value(tmp_path, f) for f in (4, 5, 6)] == [1.0, 1.0, 1.0]
