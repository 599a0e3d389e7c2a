"""Limits: preset size, YAML expansion and depth, frame ranges, and values shown in messages."""

from __future__ import annotations

import time

import pytest

from facewarp.core.errors import ValidationError, brief
from facewarp.graph import PresetError, UsageError, parse_frames
from facewarp.graph import preset as preset_module
from facewarp.graph.context import MAX_FRAMES
from facewarp.graph.preset import MAX_PRESET_BYTES, MAX_YAML_NODES, load_preset, loads_preset
from facewarp.graph.schema import Param


def test_a_huge_preset_is_refused_after_reading_at_most_the_limit(tmp_path, monkeypatch):
    big = tmp_path / "big.yaml"
    with open(big, "wb") as fh:
        fh.truncate(200 * 1024 * 1024)
    read = []
    real_open = open

    class Counting:
        def __init__(self, fh):
            self.fh = fh

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

        def fileno(self):
            return self.fh.fileno()

        def read(self, n=-1):
            data = self.fh.read(n)
            read.append(len(data))
            return data

    monkeypatch.setattr(preset_module, "open", lambda *a, **k: Counting(real_open(*a, **k)), raising=False)
    t0 = time.perf_counter()
    with pytest.raises(PresetError, match="larger than 1024 KiB"):
        load_preset(str(big))
    assert time.perf_counter() - t0 < 5 and sum(read) == 0  # the size alone refuses it
    with pytest.raises(PresetError, match="larger than"):
        loads_preset("#" * (MAX_PRESET_BYTES + 1))


def test_alias_expansion_depth_and_recursion_are_bounded():
    bomb = "a: &a [" + ",".join(["x"] * 10) + "]\n" + "".join(
        f"{c}: &{c} [" + ",".join([f"*{p}"] * 10) + "]\n" for p, c in zip("abcdefgh", "bcdefghi"))
    t0 = time.perf_counter()
    with pytest.raises(PresetError, match=f"more than {MAX_YAML_NODES} YAML values"):
        loads_preset(bomb + "facewarp: 1\nnodes: *i\n")
    assert time.perf_counter() - t0 < 5
    with pytest.raises(PresetError, match="recursive YAML"):
        loads_preset("facewarp: 1\nnodes: &n {a: *n}\n")
    with pytest.raises(PresetError, match="nested more than"):
        loads_preset("facewarp: 1\nx: " + "[" * 200 + "]" * 200 + "\n")
    # aliases within the limit still work (the same mapping reused)
    ok = loads_preset("facewarp: 1\nnodes:\n  c: &c {type: Constant}\n  d: *c\n")
    assert set(ok.graph.nodes) == {"c", "d"}


def test_frame_ranges_are_bounded_before_they_are_built():
    t0 = time.perf_counter()
    with pytest.raises(UsageError, match=f"more than {MAX_FRAMES} frames"):
        parse_frames("1-99999999")
    with pytest.raises(UsageError, match="more than 9 digits"):
        parse_frames("1-" + "9" * 10_000)
    assert time.perf_counter() - t0 < 1
    assert len(parse_frames(f"1-{MAX_FRAMES}")) == MAX_FRAMES
    with pytest.raises(UsageError, match="more than"):
        parse_frames(f"1-{MAX_FRAMES},{MAX_FRAMES + 5}")


def test_values_in_messages_are_bounded():
    shared = ["x" * 1000] * 10
    for _ in range(40):  # 10**40 strings if walked
        shared = [shared] * 10
    t0 = time.perf_counter()
    assert len(brief(shared)) <= 80 and len(brief("y" * 10**7)) <= 80 and brief(10**5000) == "<int>"
    with pytest.raises(ValidationError) as info:
        Param("gain", "float").coerce(shared)
    assert len(str(info.value)) < 200 and time.perf_counter() - t0 < 1
    assert len(str(ValidationError("z" * 10**6, file="f" * 10**5))) < 2500
