"""Property: any preset text - random structures and mutations of real presets - either
loads, validates and evaluates, or fails with the engine's own errors. Never another exception."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from facewarp.graph import Evaluator, FacewarpError
from facewarp.graph.preset import loads_preset

BASE = yaml.safe_load((Path(__file__).resolve().parents[2] / "presets" / "grade_exr.yaml").read_text())
# Evaluate in memory only: replace the reader by a constant so a valid mutant really computes.
BASE["nodes"]["read"] = {"type": "Constant", "params": {"width": 6, "height": 4}}
NODE_TYPES = ["Constant", "Grade", "Crop", "PlateRead", "Nope", 3, None]

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
                    st.sampled_from(["${gain}", "${nope}", "read.image", "grade.image", "x.####.exr", "1-5", "a.b.c"]))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                      max_leaves=6)


def paths(data, prefix=()):
    yield prefix
    if isinstance(data, dict):
        for k, v in data.items():
            yield from paths(v, prefix + (k,))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from paths(v, prefix + (i,))


@st.composite
def mutated(draw):
    data = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(1, 4))):
        all_paths = [p for p in paths(data) if p]
        if not all_paths:
            break
        target = draw(st.sampled_from(all_paths))
        parent = data
        for key in target[:-1]:
            parent = parent[key]
        action = draw(st.sampled_from(["replace", "delete", "add", "retype"]))
        if action == "replace":
            parent[target[-1]] = draw(values)
        elif action == "delete" and isinstance(parent, dict):
            del parent[target[-1]]
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.text(max_size=8))] = draw(values)
        elif action == "retype" and isinstance(parent, dict) and parent is data.get("nodes"):
            node = parent[target[-1]]
            if isinstance(node, dict):
                node["type"] = draw(st.sampled_from(NODE_TYPES))
    return yaml.safe_dump(data, sort_keys=False)


def exercise(text: str) -> None:
    try:
        preset = loads_preset(text, "fuzz.yaml")
        ctx = preset.context()
        problems = preset.graph.problems(ctx)
        for p in problems:
            assert isinstance(p, FacewarpError) and "\n" not in str(p)
        if problems:
            return
        ev = Evaluator(preset.graph)
        for name, node in preset.graph.nodes.items():
            if not node.schema.is_writer:
                ev.pull(name, ctx.at(ctx.frames[0] if ctx.frames else 1))
        loads_preset(preset.dumps(), "again.yaml")
    except FacewarpError as exc:
        assert "\n" not in str(exc)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_presets_only_raise_engine_errors(text):
    exercise(text)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_random_text_only_raises_engine_errors(text):
    exercise(text)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_character_mutations_of_a_real_preset(data):
    text = yaml.safe_dump(BASE, sort_keys=False)
    for _ in range(data.draw(st.integers(1, 5))):
        i = data.draw(st.integers(0, len(text)))
        j = data.draw(st.integers(i, min(len(text), i + 8)))
        text = text[:i] + data.draw(st.text(alphabet=" \n:-{}[]#&*!|>'\"%@$.,0123456789abxyz", max_size=6)) + text[j:]
    exercise(text)


# -- the command line: random presets, --set values and --frames through validate and run --------

SET_NAMES = ["plate", "out", "gain", "saturation", "nope", "", "gain "]
SET_VALUES = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["1.5", "-1", "1e999", "nan", "out/x.####.exr", "out/x.exr", "out/x", "/etc/x.####.exr",
                     "../x.####.exr", "${PRESET_DIR}/../../../x.####.exr", "${out}", "$$", "plates/plate.####.exr",
                     "out/x.####.gif", "p.yaml", "x" * 300]))
FRAMES = st.one_of(
    st.none(),
    st.sampled_from(["1001", "1001-1003", "1-3x2", "1,5,9", "1-99999999", "9-1", "1-" + "9" * 40, "", ",", "x",
                     "1001-1003x0", "-3--1", " 7 "]),
    st.text(alphabet="0123456789-x, ", max_size=12))


def _cli(argv) -> tuple[int, str]:
    """facewarp.cli.main in this process; argparse's own errors arrive as SystemExit."""
    from facewarp.cli import main

    try:
        return main(argv), ""
    except SystemExit as exc:
        return int(exc.code), "argparse"


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(text=st.one_of(mutated(), st.just(yaml.safe_dump(BASE, sort_keys=False))),
       sets=st.lists(st.tuples(st.sampled_from(SET_NAMES), SET_VALUES), max_size=3),
       frames=FRAMES, command=st.sampled_from(["validate", "run", "run --overwrite"]))
def test_the_command_line_exits_0_or_2_with_one_line_errors(tmp_path_factory, capsys, text, sets, frames, command):
    import os

    folder = tmp_path_factory.mktemp("fuzz")
    (folder / "p.yaml").write_text(text)
    argv = command.split() + ["p.yaml", *(f"--set={n}={v}" for n, v in sets)]
    argv += [f"--frames={frames}"] if frames is not None else []
    argv += ["--quiet"] if argv[0] == "run" else []
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        rc, how = _cli(argv)
    finally:
        os.chdir(cwd)
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err and "internal error" not in err, err
    assert rc in (0, 2), (argv, err)
    if rc == 2:
        errors = [line for line in lines if line.startswith("facewarp: error: ")]
        assert errors, err
        if how != "argparse":  # argparse adds its usage line
            assert errors == lines, err
            assert len(errors) == 1 or argv[0] == "validate", err
    stray = [p for p in folder.rglob("*") if p.is_file() and ".partial-" in p.name]
    assert not stray and (folder / "p.yaml").read_text() == text
