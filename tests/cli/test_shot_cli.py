"""``facewarp run --shot``: a shot rendered in chunks equals one render of it, bit for bit, on a
real face (the GRID clip of ../shared/data written as an EXR plate sequence)."""

from __future__ import annotations

import numpy as np
import pytest
from _cli import facewarp
from _grid_plates import FIRST, KEYS, LAST, grid_plates
from conftest import REPO, shared_file

from facewarp.imaging.plates import read_plate


def outputs(preset: str, out: str) -> list[str]:
    sets = [f"out={out}/r.####.exr"]
    if preset == "reanimate":
        sets.append(f"stmap={out}/st.####.exr")
    return [a for s in sets for a in ("--set", s)]


@pytest.mark.shared
@pytest.mark.parametrize("preset", ["reanimate", "reenact"])
def test_chunks_of_a_shot_equal_one_render_of_it(tmp_path, preset):
    path = REPO / "presets" / f"{preset}.yaml"
    if not path.exists():
        pytest.skip(f"presets/{preset}.yaml does not exist (yet)")
    plates = grid_plates(tmp_path)
    if preset == "reanimate":  # the GRID speaker's plates, edited by keyframes
        sets = [f"plate={plates}", KEYS]
    else:  # the GRID speaker drives a real portrait (a still target)
        sets = [f"driving={plates}", f"target={shared_file('portraits/interfaces_001.jpg')}", "check=false"]
    common = [str(path), "--quiet"] + [a for s in sets for a in ("--set", s)]
    rc, _, err = facewarp("run", *common, "--frames", f"{FIRST}-{LAST}", *outputs(preset, "single"), cwd=tmp_path)
    assert rc == 0, err
    chunked = [*common, *outputs(preset, "chunked"), "--shot", f"{FIRST}-{LAST}"]
    rc, _, err = facewarp("run", *chunked, "--cache-only", cwd=tmp_path)  # the farm's first step
    assert rc == 0, err
    caches = list((tmp_path / "chunked").glob("*.fwshot.npz"))
    assert [p.name for p in caches] == [f"{preset}.shot-{FIRST}-{LAST}.fwshot.npz"]
    for chunk in ("1001-1002", "1003-1005", "1006"):  # three chunks, the last of one frame
        rc, _, err = facewarp("run", *chunked, "--frames", chunk, cwd=tmp_path)
        assert rc == 0, err
        assert "note: shot cache" not in err  # found valid: not recomputed
    files = sorted(p.relative_to(tmp_path / "single") for p in (tmp_path / "single").glob("*.exr"))
    assert len(files) >= LAST - FIRST + 1
    worst = 0.0
    for rel in files:
        a = read_plate(str(tmp_path / "single" / rel)).pixels
        b = read_plate(str(tmp_path / "chunked" / rel)).pixels
        worst = max(worst, float(np.abs(a - b).max()))
        assert np.array_equal(a, b), f"{rel}: chunked differs from the single render by up to {np.abs(a - b).max()}"
    assert worst == 0.0


def test_frames_pick_frames_of_the_shot(tmp_path):
    rc, _, err = facewarp("run", "grade_exr", "--frames", "1-5", "--shot", "7-9", cwd=tmp_path)
    assert rc == 2 and "--frames 1-5 holds no frame of --shot 7-9" in err


def test_dask_and_chunk_arguments_are_checked_first(tmp_path):
    rc, _, err = facewarp("run", "grade_exr", "--dask", "nowhere", cwd=tmp_path)
    assert rc == 2 and "--dask takes local:N or a scheduler address" in err
    rc, _, err = facewarp("run", "grade_exr", "--chunk", "3", cwd=tmp_path)
    assert rc == 2 and "--chunk N needs --dask" in err
    rc, _, err = facewarp("run", "grade_exr", "--dask", "local:2", "--cache-only", cwd=tmp_path)
    assert rc == 2 and "do not go together" in err
