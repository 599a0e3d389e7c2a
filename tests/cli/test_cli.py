"""The facewarp command end to end on the minimal preset (real processes, real files)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from _cli import facewarp

from facewarp.core.frames import frame_path
from facewarp.graph import Image
from facewarp.imaging.plates import read_plate, write_plate

PRESET = str(Path(__file__).resolve().parents[2] / "presets" / "grade_exr.yaml")


@pytest.fixture
def shot(tmp_path):
    rng = np.random.default_rng(1)
    for f in range(1001, 1006):
        px = rng.uniform(0, 1, (24, 32, 3)).astype(np.float32) * (f - 1000)
        write_plate(frame_path(str(tmp_path / "plates" / "plate.####.exr"), f), Image(px), pixel_type="float")
    return tmp_path


def test_run_renders_the_range_and_writes_stats(shot):
    rc, out, err = facewarp("run", PRESET, "--frames", "1001-1005x2", "--set", "gain=2", "--set", "saturation=0",
                            "--stats", "stats.json", cwd=shot)
    assert rc == 0, err
    written = sorted(os.listdir(shot / "out"))
    assert written == ["graded.1001.exr", "graded.1003.exr", "graded.1005.exr"]
    for f in (1001, 1003, 1005):
        src = read_plate(str(shot / "plates" / f"plate.{f}.exr")).pixels
        luma = (src * 2) @ np.array([0.2126, 0.7152, 0.0722], np.float32)
        got = read_plate(str(shot / "out" / f"graded.{f}.exr")).pixels
        assert np.allclose(got, luma[..., None].astype(np.float16).astype(np.float32), rtol=1e-3, atol=1e-3)
    stats = json.loads((shot / "stats.json").read_text())
    assert stats["nodes"]["read"]["computes"] == 3 and set(stats["nodes"]["grade"]["frames"]) == {"1001", "1003", "1005"}


def test_existing_outputs_are_kept_and_skip_existing_finishes_the_rest(shot):
    assert facewarp("run", PRESET, "--frames", "1001-1002", cwd=shot)[0] == 0
    first = (shot / "out" / "graded.1001.exr").read_bytes()
    rc, _, err = facewarp("run", PRESET, "--frames", "1001-1005", cwd=shot)
    assert rc == 2
    assert "graded.1001.exr" in err and "--overwrite" in err and "Traceback" not in err
    assert sorted(os.listdir(shot / "out")) == ["graded.1001.exr", "graded.1002.exr"]  # nothing rendered
    rc, _, err = facewarp("run", PRESET, "--frames", "1001-1005", "--skip-existing", "--stats", "s.json", cwd=shot)
    assert rc == 0, err
    assert len(os.listdir(shot / "out")) == 5
    assert (shot / "out" / "graded.1001.exr").read_bytes() == first
    stats = json.loads((shot / "s.json").read_text())
    assert stats["skipped"] == [1001, 1002] and stats["nodes"]["read"]["computes"] == 3
    rc, _, err = facewarp("run", PRESET, "--frames", "1001", "--overwrite", "--set", "gain=3", cwd=shot)
    assert rc == 0 and (shot / "out" / "graded.1001.exr").read_bytes() != first


def test_frames_default_to_the_preset_range(shot):
    rc, _, err = facewarp("run", PRESET, "--quiet", cwd=shot)
    assert rc == 0, err
    assert len(os.listdir(shot / "out")) == 5


def test_missing_input_frame_exit_code_and_message(shot):
    rc, _, err = facewarp("run", PRESET, "--frames", "1005-1006", cwd=shot)
    assert rc == 2
    assert "node 'read' (PlateRead), file 'plates/plate.1006.exr', frame 1006: missing frame of the sequence" in err
    assert "Traceback" not in err


def test_broken_presets_exit_2_with_one_line(shot):
    bad = shot / "bad.yaml"
    text = Path(PRESET).read_text().replace("inputs:\n      image: read.image", "inputs:\n      image: raed.image")
    bad.write_text(text)
    line = text.splitlines().index("      image: raed.image") + 1
    rc, out, err = facewarp("validate", str(bad), cwd=shot)
    assert rc == 2 and f"bad.yaml:{line}, node 'grade' (Grade), port 'image': input connected to unknown node 'raed'" in err
    rc, _, err = facewarp("run", str(bad), cwd=shot)
    assert rc == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    (shot / "syntax.yaml").write_text("facewarp: 1\nnodes: [\n")
    rc, _, err = facewarp("run", "syntax.yaml", cwd=shot)
    assert rc == 2 and "syntax.yaml:3" in err
    rc, _, err = facewarp("run", "nope.yaml", cwd=shot)
    assert rc == 2 and "preset file does not exist" in err
    rc, _, err = facewarp("run", PRESET, "--frames", "9-1", cwd=shot)
    assert rc == 2 and "ends before it starts" in err
    rc, _, err = facewarp("run", PRESET, "--device", "tpu", cwd=shot)
    assert rc == 2


def test_undecodable_plate_is_an_input_error(shot):
    (shot / "plates" / "plate.1003.exr").write_bytes(b"not an exr")
    rc, _, err = facewarp("run", PRESET, "--frames", "1003", cwd=shot)
    assert rc == 2 and "plate.1003.exr" in err and "cannot read image" in err


def test_failure_while_rendering_exits_1(tmp_path, monkeypatch, capsys):
    # A node that fails while computing (in-process: the test node types register on import).
    import _nodes  # noqa: F401

    from facewarp.cli import main

    (tmp_path / "broken.yaml").write_text("facewarp: 1\nnodes:\n  src: {type: TestFrameSource}\n"
                                          "  broken: {type: TestBroken, inputs: {image: src.image}}\n"
                                          "  write: {type: PlateWrite, params: {path: out/o.####.exr}, "
                                          "inputs: {image: broken.image}}\n")
    monkeypatch.chdir(tmp_path)
    rc = main(["run", "broken.yaml", "--frames", "1-2", "--quiet"])
    err = capsys.readouterr().err
    assert rc == 1
    assert "node 'broken' (TestBroken), frame 1:" in err and "Traceback" not in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out").exists() or os.listdir(tmp_path / "out") == []


def test_validate_nodes_and_version(shot):
    rc, out, _ = facewarp("validate", PRESET, cwd=shot)
    assert rc == 0 and "ok" in out
    rc, out, _ = facewarp("nodes", cwd=shot)
    assert rc == 0 and "PlateRead" in out and "Grade" in out
    rc, out, _ = facewarp("nodes", "PlateWrite", cwd=shot)
    assert rc == 0 and "exr_compression" in out
    rc, out, _ = facewarp("nodes", "--json", cwd=shot)
    schema = json.loads(out)
    assert {n["type"] for n in schema["nodes"]} >= {"PlateRead", "PlateWrite", "Grade", "Crop", "Constant"}
    rc, out, _ = facewarp("--version", cwd=shot)
    assert rc == 0 and out.startswith("facewarp ")
    rc, _, err = facewarp("nodes", "Nope", cwd=shot)
    assert rc == 2 and "unknown node type 'Nope'" in err


def test_demo_reanimates_embedded_plates(tmp_path):
    """The main job: generated plates -> track -> fit -> keyframed expression -> warp, + STMap."""
    import cv2

    rc, _, err = facewarp("demo", "--out", "d", "--size", "640x360", "--frames", "1001-1003", cwd=tmp_path)
    assert rc == 0, err
    assert sorted(os.listdir(tmp_path / "d" / "render")) == [f"render.{f}.exr" for f in (1001, 1002, 1003)]
    plate = {f: read_plate(str(tmp_path / "d" / "plates" / f"plate.{f}.exr")).pixels for f in (1001, 1003)}
    render = {f: read_plate(str(tmp_path / "d" / "render" / f"render.{f}.exr")).pixels for f in (1001, 1003)}
    # Frame 1001 has every control at 0: the edited face is the fitted one, the warp is identity.
    assert np.abs(render[1001] - plate[1001]).max() < 2e-3
    # Frame 1003 opens the jaw and smiles: the face region changes, nothing outside it does.
    diff = np.abs(render[1003] - plate[1003]).mean(axis=2)
    matte = read_plate(str(tmp_path / "d" / "render" / "render.1003.exr"), channels="matte.A").pixels[..., 0]
    assert diff[matte == 1].mean() > 0.01 and 0.01 < (matte > 0).mean() < 0.5
    assert diff[matte == 0].max() == 0
    # The STMap written for Nuke reproduces the render when applied to the plate.
    st = read_plate(str(tmp_path / "d" / "stmap" / "stmap.1003.exr"), channels="forward.u,forward.v").pixels
    map_x = (st[..., 0] * 640 - 0.5).astype(np.float32)
    map_y = ((1 - st[..., 1]) * 360 - 0.5).astype(np.float32)
    applied = cv2.remap(plate[1003], map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    assert np.abs(applied - render[1003]).mean() < 2e-3  # half-float render vs float remap
    rc, _, err = facewarp("demo", "--out", "d", "--size", "640x360", "--frames", "1001-1003", cwd=tmp_path)
    assert rc == 2 and "exists" in err  # never overwrites unasked


def test_demo_in_an_empty_folder_writes_exrs_contact_sheet_and_a_movie_that_decodes(tmp_path):
    """The acceptance of the main job: EXRs, a contact sheet PNG and an H.264 MP4 that decodes."""
    import cv2

    from facewarp.imaging.contact_sheet import COLUMNS, LABEL_HEIGHT
    from facewarp.imaging.movie import read_mp4

    rc, _, err = facewarp("demo", "--out", "d", "--frames", "1001-1003", "--size", "320x180", cwd=tmp_path)
    assert rc == 0, err
    d = tmp_path / "d"
    assert sorted(os.listdir(d / "render")) == [f"render.{f}.exr" for f in (1001, 1002, 1003)]
    assert sorted(os.listdir(d / "stmap")) == [f"stmap.{f}.exr" for f in (1001, 1002, 1003)]
    sheet = cv2.imread(str(d / "contact_sheet.png"), cv2.IMREAD_COLOR)
    assert sheet.shape == (3 * (180 + LABEL_HEIGHT), len(COLUMNS) * 320, 3)  # 3 frames x 4 tiles of 320x180
    # The output column is the render, the landmarks column found a face (not the grey blank tile).
    render = read_plate(str(d / "render" / "render.1003.exr")).pixels
    from facewarp.core.color import linear_to_srgb
    want = (linear_to_srgb(render) * 255 + 0.5).astype(np.uint8)[..., ::-1]
    y = 2 * (180 + LABEL_HEIGHT) + LABEL_HEIGHT
    out_col, lm_col = COLUMNS.index("output"), COLUMNS.index("landmarks")
    assert np.abs(sheet[y:y + 180, out_col * 320:(out_col + 1) * 320].astype(int) - want).max() <= 1
    assert sheet[y:y + 180, lm_col * 320:(lm_col + 1) * 320].std() > 10
    frames, codec = read_mp4(str(d / "render.mp4"))
    assert codec == "h264" and len(frames) == 3 and frames[0].shape == (180, 320, 3)
    mse = np.mean((frames[2].astype(float) - want[..., ::-1]) ** 2)
    assert 10 * np.log10(255 ** 2 / mse) > 30
    cap = cv2.VideoCapture(str(d / "render.mp4"))
    assert cap.get(cv2.CAP_PROP_FRAME_COUNT) == 3 and cap.read()[0]
    assert not [n for n in os.listdir(d) if ".partial-" in n]
