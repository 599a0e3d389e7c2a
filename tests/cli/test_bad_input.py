"""Bad input never passes silently, and a preset cannot write where it should not.

Every case: the exit code, the one line naming the culprit (node, parameter, file), no partial or
stray file, and earlier outputs and every input intact. Most runs are in-process
(``facewarp.cli.main``, the same code as the command); a few go through a real process."""

from __future__ import annotations

import os
import pickle
import time
from pathlib import Path

import numpy as np
import pytest
from _cli import facewarp

from facewarp.cli import main
from facewarp.core.frames import frame_path
from facewarp.graph import Image
from facewarp.imaging.plates import write_plate

PRESETS = Path(__file__).resolve().parents[2] / "presets"
GRADE = str(PRESETS / "grade_exr.yaml")
REANIMATE = str(PRESETS / "reanimate.yaml")


@pytest.fixture
def shot(tmp_path, monkeypatch):
    """tmp_path/shot with five small EXR plates; the current directory (the output root)."""
    root = tmp_path / "shot"
    rng = np.random.default_rng(1)
    for f in range(1001, 1006):
        px = rng.uniform(0, 1, (12, 16, 3)).astype(np.float32)
        write_plate(frame_path(str(root / "plates" / "plate.####.exr"), f), Image(px), pixel_type="float")
    monkeypatch.chdir(root)
    monkeypatch.delenv("FACEWARP_OUTPUT_ROOT", raising=False)
    monkeypatch.delenv("FACEWARP_DEBUG", raising=False)
    return root


def snapshot(*folders) -> dict[str, bytes]:
    """Every file (hidden temp files included) under the folders, with its bytes."""
    out = {}
    for folder in folders:
        for dirpath, _, files in os.walk(folder):
            for name in files:
                path = os.path.join(dirpath, name)
                if not os.path.islink(path):
                    out[path] = Path(path).read_bytes()
    return out


def cli(capsys, *args):
    rc = main(list(args))
    out, err = capsys.readouterr()
    return rc, out, err


def refused(capsys, *args, expect: str, rc: int = 2) -> str:
    """Run the command, assert it exits ``rc`` with one error line containing ``expect`` (``run``
    stops at the first problem: exactly one line; ``validate`` lists every problem, one a line)."""
    code, out, err = cli(capsys, *args)
    lines = err.strip().splitlines()
    assert code == rc, err
    assert lines and all(line.startswith("facewarp: error: ") for line in lines), err
    assert len(lines) == 1 or args[0] == "validate", err
    assert "Traceback" not in err and "ok (" not in out
    found = [line for line in lines if expect in line]
    assert found, err
    return found[0]


# -- validate checks what run would fail on -----------------------------------------------------

def test_a_missing_plate_frame_is_found_by_validate_and_run_alike(shot, tmp_path, capsys):
    os.remove(shot / "plates" / "plate.1003.exr")
    before = snapshot(tmp_path)
    expect = "node 'read' (PlateRead), file 'plates/plate.1003.exr', frame 1003: missing frame of the sequence"
    rc, out, err = facewarp("validate", GRADE, cwd=shot)  # the real command, once
    assert rc == 2 and expect in err and "Traceback" not in err and "ok" not in out
    refused(capsys, "run", GRADE, expect=expect)
    assert snapshot(tmp_path) == before and not (shot / "out").exists()  # nothing computed, nothing written
    # the node's own policy: hold the previous frame -> valid, and the run renders every frame
    preset = shot / "hold.yaml"
    preset.write_text(Path(GRADE).read_text().replace("path: ${plate}", "path: ${plate}\n      missing: hold"))
    assert cli(capsys, "validate", str(preset))[0] == 0
    assert cli(capsys, "run", str(preset), "--quiet")[0] == 0 and len(os.listdir(shot / "out")) == 5


def test_a_gap_in_the_sequence_on_disk_is_not_skipped_without_a_word(shot, capsys):
    """No --frames and no frames: key: the range is first..last on disk, so a gap is named."""
    preset = shot / "ondisk.yaml"
    preset.write_text(Path(GRADE).read_text().replace("frames: 1001-1005\n", ""))
    assert "frames:" not in preset.read_text().split("vars:")[0]
    os.remove(shot / "plates" / "plate.1003.exr")
    refused(capsys, "run", str(preset), expect="file 'plates/plate.1003.exr', frame 1003: missing frame of the sequence")
    assert not (shot / "out").exists()
    held = shot / "ondisk_hold.yaml"
    held.write_text(preset.read_text().replace("path: ${plate}", "path: ${plate}\n      missing: hold"))
    assert cli(capsys, "run", str(held), "--quiet")[0] == 0
    assert sorted(os.listdir(shot / "out")) == [f"graded.{f}.exr" for f in range(1001, 1006)]


@pytest.mark.parametrize("out, expect", [
    ("plates/plate.1001.exr/x.####.exr", "cannot be created: '{shot}/plates/plate.1001.exr' is a file, not a folder"),
    ("out/graded_####", "unknown output format (no extension)"),
    ("out/graded.####", "unknown output format ('.1001')"),
    ("out/graded.####.gif", "unknown output format ('.gif')"),
    ("renders.exr", "is a folder, not a file"),
])
def test_outputs_that_cannot_be_written_are_refused_before_rendering(shot, tmp_path, capsys, out, expect):
    (shot / "renders.exr").mkdir()
    before = snapshot(tmp_path)
    expect = expect.format(shot=shot)
    line = refused(capsys, "validate", GRADE, "--set", f"out={out}", expect=expect)
    assert "node 'write' (PlateWrite), param 'path'" in line
    refused(capsys, "run", GRADE, "--set", f"out={out}", "--overwrite", expect=expect)
    assert snapshot(tmp_path) == before


def test_bit_depth_a_format_cannot_take_is_a_validation_error(shot, capsys):
    text = Path(GRADE).read_text().replace("exr_compression: zip", "exr_compression: zip\n      bit_depth: 12")
    (shot / "p.yaml").write_text(text)
    refused(capsys, "validate", "p.yaml", "--set", "out=out/o.####.png",
            expect="param 'bit_depth', file 'out/o.1001.png': .png files take bit depth 8, 16")


# -- keyframes: parsed, known and in range ------------------------------------------------------

@pytest.mark.parametrize("keys, expect", [
    ("1001: jaw_open=99, smile=-50", "param 'keys': jaw_open=99 at frame 1001 is outside [-1, 2]"),
    ("1001: smile=-50", "param 'keys': smile=-50 at frame 1001 is outside [-3, 3]"),
    ("1001: head_yaw=90", "head_yaw=90 at frame 1001 is outside [-45, 45]"),
    ("1001 jaw_open=0.5", "needs 'FRAME: control=value, ...'"),
    ("1001: jaw_open", "'jaw_open' at frame 1001 needs control=value"),
    ("x: jaw_open=1", "'x' is not a frame number"),
    ("1001: jaw_open=lots", "'jaw_open=lots' at frame 1001: value is not a number"),
    ("1001: grin=0.5", "unknown control 'grin' for model 'default'"),
])
def test_bad_keys_are_validation_errors(shot, tmp_path, capsys, keys, expect):
    before = snapshot(tmp_path)
    line = refused(capsys, "validate", REANIMATE, "--set", f"keys={keys}", expect=expect)
    assert "node 'edit' (ExpressionEdit)" in line
    refused(capsys, "run", REANIMATE, "--set", f"keys={keys}", expect=expect)
    assert snapshot(tmp_path) == before


def test_amount_scales_the_checked_value_and_ranges_are_documented(shot, capsys):
    text = Path(REANIMATE).read_text().replace("keys: ${keys}", "keys: ${keys}\n      amount: 5")
    (shot / "loud.yaml").write_text(text)
    refused(capsys, "validate", "loud.yaml", expect="jaw_open=0.5 at frame 1003 (times amount 5: 2.5) is outside [-1, 2]")
    assert cli(capsys, "validate", REANIMATE)[0] == 0  # the shipped keys are in range
    rc, out, _ = cli(capsys, "nodes", "ExpressionEdit")
    assert rc == 0 and "jaw_open -1..2" in out and "-45..45" in out and "-3..3" in out


def test_retarget_frames_outside_the_range_are_validation_errors(shot, capsys):
    text = """\
facewarp: 1
frames: 1001-1003
nodes:
  read: {type: PlateRead, params: {path: plates/plate.####.exr}}
  track: {type: LandmarkTracker, inputs: {image: read.image}}
  fit: {type: FLAMEFit, inputs: {landmarks: track.landmarks}}
  rt: {type: Retarget, params: {neutral_frame: 900}, inputs: {driving: fit.params, target: fit.params}}
  warp: {type: TriangleWarp, inputs: {image: read.image, source: fit.landmarks, target: rt.landmarks}}
  write: {type: PlateWrite, params: {path: out/o.####.exr}, inputs: {image: warp.image}}
"""
    (shot / "rt.yaml").write_text(text)
    refused(capsys, "validate", "rt.yaml", expect="node 'rt' (Retarget), param 'neutral_frame': frame 900 is outside "
            "the range being rendered (1001-1003)")
    (shot / "rt.yaml").write_text(text.replace("neutral_frame: 900", "expression_scale: 9"))
    refused(capsys, "validate", "rt.yaml", expect="param 'expression_scale': expected a value <= 3.0, got 9")


# -- checkpoints: readable safe formats only ----------------------------------------------------

NET = """\
facewarp: 1
frames: 1-2
vars:
  weights: {type: path, default: ""}
nodes:
  face: {type: Constant, params: {width: 16, height: 16}}
  net: {type: WgGAN, params: {weights: "${weights}"}, inputs: {face: face.image, dispmap: face.image}}
  write: {type: PlateWrite, params: {path: out/o.####.exr}, inputs: {image: net.face}}
"""


class _Payload:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def test_a_pickle_checkpoint_is_refused_without_running_it(shot, tmp_path, capsys):
    (shot / "net.yaml").write_text(NET)
    (shot / "evil.pt").write_bytes(pickle.dumps({"model": _Payload()}))
    before = snapshot(tmp_path)
    line = refused(capsys, "validate", "net.yaml", "--set", "weights=evil.pt", expect="file 'evil.pt': evil.pt refused")
    assert "node 'net' (WgGAN), param 'weights'" in line
    refused(capsys, "run", "net.yaml", "--set", "weights=evil.pt", expect="evil.pt refused")
    assert not (shot / "PWNED").exists() and snapshot(tmp_path) == before
    refused(capsys, "validate", "net.yaml", expect="param 'weights': no weights")
    refused(capsys, "validate", "net.yaml", "--set", "weights=gone.safetensors",
            expect="param 'weights', file 'gone.safetensors': input file does not exist")
    (shot / "junk.onnx").write_bytes(b"\x00not onnx")
    refused(capsys, "validate", "net.yaml", "--set", "weights=junk.onnx", expect="file 'junk.onnx': weights file")


# -- where a run may write ----------------------------------------------------------------------

def test_outputs_outside_the_output_root_are_refused(shot, tmp_path, capsys):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    os.symlink(outside, shot / "link")  # a symlink inside the root that points out of it
    (shot / "presets").mkdir()  # a preset inside the root whose output climbs out with ${PRESET_DIR}/../..
    (shot / "presets" / "p.yaml").write_text(Path(GRADE).read_text().replace(
        "default: out/graded.####.exr", "default: ${PRESET_DIR}/../../escape.####.exr"))
    before = snapshot(tmp_path)
    line = refused(capsys, "validate", GRADE, "--set", "out=/etc/facewarp_test.####.exr",
                   expect=f"file '/etc/facewarp_test.1001.exr': is outside the output root '{shot}'")
    assert "node 'write' (PlateWrite), param 'path'" in line
    refused(capsys, "run", GRADE, "--set", f"out={outside}/o.####.exr", "--overwrite", expect="is outside the output root")
    refused(capsys, "run", GRADE, "--set", "out=../elsewhere/o.####.exr", expect="is outside the output root")
    refused(capsys, "run", GRADE, "--set", "out=link/o.####.exr", expect=f"(it resolves to '{outside}/o.1001.exr')")
    refused(capsys, "run", "presets/p.yaml", expect=f"file '{shot}/presets/../../escape.1001.exr': is outside")
    # --stats follows the same rule, before anything is rendered
    refused(capsys, "run", GRADE, "--stats", "/etc/facewarp_test.json", expect="file '/etc/facewarp_test.json': "
            "--stats file is outside the output root")
    refused(capsys, "run", GRADE, "--stats", GRADE, expect="is outside the output root")
    assert snapshot(tmp_path) == before and os.listdir(outside) == []
    assert not os.path.exists("/etc/facewarp_test.1001.exr") and not os.path.exists("/etc/facewarp_test.json")


def test_the_output_root_can_be_moved(shot, tmp_path, capsys, monkeypatch):
    outside = tmp_path / "elsewhere"
    rc, _, err = cli(capsys, "run", GRADE, "--frames", "1001", "--set", f"out={outside}/o.####.exr", "--quiet",
                     "--output-root", str(outside), "--stats", str(outside / "s.json"))
    assert rc == 0, err
    assert sorted(os.listdir(outside)) == ["o.1001.exr", "s.json"]
    monkeypatch.setenv("FACEWARP_OUTPUT_ROOT", str(outside))
    assert cli(capsys, "run", GRADE, "--frames", "1002", "--set", f"out={outside}/o.####.exr", "--quiet")[0] == 0
    refused(capsys, "run", GRADE, "--frames", "1003", expect="is outside the output root")  # out/ is now outside


def test_an_input_is_never_an_output(shot, tmp_path, capsys):
    (shot / "p.yaml").write_text(Path(GRADE).read_text())
    before = snapshot(tmp_path)
    line = refused(capsys, "run", GRADE, "--set", "out=plates/plate.####.exr", "--overwrite",
                   expect="file 'plates/plate.1001.exr': is also an input of this run (node 'read' reads it)")
    assert "node 'write' (PlateWrite), param 'path'" in line
    refused(capsys, "validate", GRADE, "--set", "out=plates/plate.%04d.exr", expect="is also an input of this run")
    refused(capsys, "run", GRADE, "--set", "out=./plates/../plates/plate.####.exr", "--skip-existing",
            expect="is also an input of this run")
    refused(capsys, "run", "p.yaml", "--stats", "p.yaml", expect="--stats file is also an input of this run ('p.yaml')")
    assert snapshot(tmp_path) == before  # the plates, bit for bit


def test_a_name_without_frame_token_over_several_frames_is_refused(shot, tmp_path, capsys):
    before = snapshot(tmp_path)
    refused(capsys, "run", GRADE, "--set", "out=out/one.exr", "--overwrite", expect="file 'out/one.exr': is the same "
            "file for frames 1001 and 1002: every frame would replace it")
    assert snapshot(tmp_path) == before
    assert cli(capsys, "run", GRADE, "--set", "out=out/one.exr", "--frames", "1003", "--quiet")[0] == 0
    assert os.listdir(shot / "out") == ["one.exr"]


def test_stale_temp_files_of_a_killed_run_are_removed_and_nothing_else(shot, capsys):
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)  # a process that has exited
    out = shot / "out"
    out.mkdir()
    old = time.time() - 3600
    files = {
        "stale": out / f".graded.1001.partial-{pid}-0123abcd.exr",  # ours, dead writer, old: removed
        "fresh": out / f".graded.1002.partial-{pid}-0123abcd.exr",  # dead writer but just written: kept
        "live": out / ".graded.1003.partial-1-0123abcd.exr",  # pid 1 runs: kept
        "other_output": out / f".graded.1009.partial-{pid}-0123abcd.exr",  # not an output of this run: kept
        "other_name": out / f".graded.1001.partial-{pid}-0123abcd.exr.bak",  # not the pattern: kept
        "user_file": out / "notes.txt",
    }
    for key, path in files.items():
        path.write_bytes(b"")
        if key != "fresh":
            os.utime(path, (old, old))
    assert cli(capsys, "run", GRADE, "--frames", "1001-1003", "--quiet")[0] == 0
    assert not files["stale"].exists()
    assert all(files[k].exists() for k in files if k != "stale")
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        "graded.1001.exr", "graded.1002.exr", "graded.1003.exr", "notes.txt"]


# -- limits -------------------------------------------------------------------------------------

def alias_bomb(levels: int = 9, width: int = 9) -> str:
    lines = ["facewarp: 1", "a0: &a0 [" + ",".join(["lol"] * width) + "]"]
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * width) + "]" for i in range(1, levels)]
    return "\n".join(lines) + f"\nframes: *a{levels - 1}\n"


def test_a_yaml_alias_bomb_is_refused_at_once(shot, capsys):
    text = alias_bomb()
    assert len(text) < 800  # 9**9 = 387 million strings once expanded
    (shot / "bomb.yaml").write_text(text)
    for command in ("validate", "run"):
        t0 = time.perf_counter()
        refused(capsys, command, "bomb.yaml", expect="bomb.yaml:6: the preset holds more than 50000 YAML values")
        assert time.perf_counter() - t0 < 5


def test_a_huge_preset_is_refused_without_reading_it(shot, capsys):
    big = shot / "big.yaml"
    with open(big, "wb") as fh:  # 200 MB (sparse: the test does not write them)
        fh.truncate(200 * 1024 * 1024)
    t0 = time.perf_counter()
    refused(capsys, "run", "big.yaml", expect="file 'big.yaml': preset is larger than 1024 KiB (209715200 bytes)")
    assert time.perf_counter() - t0 < 5
    # a list just under the size limit: refused by the value count while parsing
    (shot / "list.yaml").write_text("facewarp: 1\nframes: [" + ",".join(["1"] * 400_000) + "]\n")
    t0 = time.perf_counter()
    refused(capsys, "validate", "list.yaml", expect="list.yaml:2: the preset holds more than 50000 YAML values")
    assert time.perf_counter() - t0 < 5


def test_an_absurd_frame_range_is_refused_at_once(shot, tmp_path, capsys):
    before = snapshot(tmp_path)
    for command in ("validate", "run"):
        t0 = time.perf_counter()
        refused(capsys, command, GRADE, "--frames", "1-99999999",
                expect="frame range '1-99999999' has more than 100000 frames")
        assert time.perf_counter() - t0 < 5
    refused(capsys, "run", GRADE, "--frames", "1-" + "9" * 5000, expect="have more than 9 digits")
    assert snapshot(tmp_path) == before


def test_messages_show_bounded_values(shot, capsys):
    line = refused(capsys, "run", GRADE, "--set", "gain=" + "x" * 100_000, expect="--set gain: expected a number")
    assert len(line) < 400
    line = refused(capsys, "run", GRADE, "--set", "nope" * 50_000 + "=1", expect="has no variable")
    assert len(line) < 1200


def test_a_missing_frame_is_named_with_the_readers_offset(shot, capsys):
    """PlateRead offset 1000: evaluated frame 3 reads plate.1003; the message names that file."""
    os.remove(shot / "plates" / "plate.1003.exr")
    preset = shot / "offset.yaml"
    text = Path(GRADE).read_text().replace("frames: 1001-1005\n", "frames: 1-5\n")
    preset.write_text(text.replace("path: ${plate}", "path: ${plate}\n      offset: 1000", 1))
    refused(capsys, "validate", str(preset), expect="file 'plates/plate.1003.exr', frame 3: missing frame of the sequence")
