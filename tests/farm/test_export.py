"""``facewarp farm export``: OpenJD templates that ``openjd check`` accepts and ``openjd run`` runs,
Deadline info files whose command line renders a chunk, OpenCue XML valid against the cjsl DTD."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _cli import facewarp

from facewarp.core.types import Image
from facewarp.farm import build_job, chunks, frames_spec
from facewarp.farm import deadline as dl
from facewarp.imaging.plates import read_plate, write_plate

DATA = Path(__file__).resolve().parent / "data"
REPO = Path(__file__).resolve().parents[2]


def tiny_plates(folder: Path, frames) -> str:
    for f in frames:
        write_plate(str(folder / "plates" / f"p.{f:04d}.exr"), Image(np.full((6, 8, 3), f / 1000, np.float32)),
                    pixel_type="float")
    return str(folder / "plates" / "p.####.exr")


def export(tmp_path, fmt, frames="1001-1005", chunk=2, *extra, preset="grade_exr"):
    rc, out, err = facewarp("farm", "export", preset, "--frames", frames, "--chunk", str(chunk), "--format", fmt,
                            "--out", "job", "--set", "plate=plates/p.####.exr", "--set", "out=render/g.####.exr",
                            *extra, cwd=tmp_path)
    assert rc == 0, err
    return [Path(p) for p in out.split()]


def rendered(tmp_path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "render").glob("g.*.exr"))


def test_chunks_split_at_gaps_and_spec_round_trips():
    assert chunks(range(1001, 1011), 4) == [(1001, 1004), (1005, 1008), (1009, 1010)]
    assert chunks((1, 2, 3, 7, 9, 10), 2) == [(1, 2), (3, 3), (7, 7), (9, 10)]
    assert frames_spec((1, 2, 3, 7, 9, 10)) == "1-3,7,9-10"


def test_tasks_use_absolute_paths_and_skip_existing(tmp_path, monkeypatch):
    tiny_plates(tmp_path, range(1001, 1006))
    monkeypatch.chdir(tmp_path)
    job = build_job(str(REPO / "presets" / "grade_exr.yaml"), frames_spec_text="1001-1005", chunk=2,
                    sets=["plate=plates/p.####.exr", "gain=2"])
    assert job.sets == ["plate=" + str(tmp_path / "plates" / "p.####.exr"), "gain=2",
                        "out=" + str(tmp_path / "out" / "graded.####.exr")]  # the default, made absolute
    cmd = job.render_command(1001, 1002)
    assert os.path.isabs(cmd[0]) and "--skip-existing" in cmd
    for flag in ("--workdir", "--output-root", "--shot"):
        assert cmd[cmd.index(flag) + 1] in (str(tmp_path), "1001-1005")
    assert "--cache-only" in job.cache_command() and "--skip-existing" not in job.cache_command()


def test_export_refuses_a_bad_preset_before_writing(tmp_path):
    rc, _, err = facewarp("farm", "export", "grade_exr", "--frames", "1-3", "--format", "openjd", "--out", "job",
                          cwd=tmp_path)
    assert rc == 2 and "missing frame of the sequence" in err and not (tmp_path / "job").exists()


def test_openjd_template_checks_and_runs(tmp_path):
    pytest.importorskip("openjd.model", reason="needs the farm extra (pip install -e '.[farm]')")
    openjd = shutil.which("openjd", path=os.path.dirname(sys.executable)) or shutil.which("openjd")
    if openjd is None:
        pytest.skip("needs the openjd command (farm extra)")
    tiny_plates(tmp_path, (1001, 1002, 1004))
    (template,) = export(tmp_path, "openjd", "1001-1002,1004", 5)
    check = subprocess.run([openjd, "check", str(template)], capture_output=True, text=True, timeout=120)
    assert check.returncode == 0 and "passes validation checks" in check.stdout, check.stdout + check.stderr
    run = subprocess.run([openjd, "run", str(template), "--step", "Render", "--run-dependencies"],
                         capture_output=True, text=True, timeout=600, cwd=tmp_path / "job")
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-3000:]
    # the gap splits the range: 1001-1002 and a one-frame chunk 1004-1004
    assert "Frame(CHUNK[INT]) = 1001-1002" in log and "Frame(CHUNK[INT]) = 1004-1004" in log
    assert rendered(tmp_path) == ["g.1001.exr", "g.1002.exr", "g.1004.exr"]
    assert np.allclose(read_plate(str(tmp_path / "render" / "g.1004.exr")).pixels, 1.004, atol=1e-3)


def test_deadline_files_hold_the_keys_and_their_command_renders_a_chunk(tmp_path):
    tiny_plates(tmp_path, range(1001, 1006))
    written = export(tmp_path, "deadline", "1001-1005", 2)
    assert sorted(p.name for p in written) == sorted(dl.FILES)
    job = tmp_path / "job"
    cache_job = dl.parse_info((job / "shot_cache.job_info.job").read_text())
    render_job = dl.parse_info((job / "render.job_info.job").read_text())
    render_plugin = dl.parse_info((job / "render.plugin_info.job").read_text())
    cache_plugin = dl.parse_info((job / "shot_cache.plugin_info.job").read_text())
    for info in (cache_job, render_job):
        assert info["Plugin"] == "CommandLine" and {"Name", "Frames", "ChunkSize", "BatchName"} <= set(info)
    assert render_job["Frames"] == "1001-1005" and render_job["ChunkSize"] == "2"
    assert render_job["JobDependencies"] == dl.CACHE_JOB_ID and cache_job["ChunkSize"] == "1"
    for plugin in (render_plugin, cache_plugin):
        assert os.path.isabs(plugin["Executable"]) and plugin["StartupDirectory"] == str(tmp_path)
    assert '"<STARTFRAME>-<ENDFRAME>"' in render_plugin["Arguments"] and "--skip-existing" in render_plugin["Arguments"]
    # what Deadline does for the task of frames 1003-1004, run from another folder
    args = shlex.split(render_plugin["Arguments"].replace("<STARTFRAME>", "1003").replace("<ENDFRAME>", "1004"))
    proc = subprocess.run([render_plugin["Executable"], *args], capture_output=True, text=True, timeout=300,
                          cwd=tmp_path / "job")
    assert proc.returncode == 0, proc.stderr
    assert rendered(tmp_path) == ["g.1003.exr", "g.1004.exr"]
    assert proc.stdout.splitlines() == ["Progress: 0%", "Progress: 50%", "Progress: 100%"]
    # submit.sh with a stand-in deadlinecommand: the render job gets the cache job's ID
    fake = tmp_path / "deadlinecommand"
    fake.write_text("#!/bin/sh\necho \"$@\" >> \"$(dirname \"$0\")/calls\"\necho Result=Success\necho JobID=abc123\n")
    fake.chmod(0o755)
    sub = subprocess.run(["sh", str(job / "submit.sh")], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "DEADLINECOMMAND": str(fake)})
    assert sub.returncode == 0, sub.stderr
    assert dl.parse_info((job / "render.submitted.job_info.job").read_text())["JobDependencies"] == "abc123"
    assert len((tmp_path / "calls").read_text().splitlines()) == 2


def test_deadline_arguments_quote_what_needs_it():
    assert dl.arguments(["a", "b c", 'say "x"', "k=1: a, b; c"]) == 'a "b c" "say \\"x\\"" "k=1: a, b; c"'
    assert shlex.split(dl.arguments(["a", "b c", 'say "x"'])) == ["a", "b c", 'say "x"']


def test_opencue_xml_is_valid_against_the_dtd(tmp_path):
    pytest.importorskip("outline", reason="needs the farm extra (opencue-pyoutline)")
    etree = pytest.importorskip("lxml.etree", reason="needs lxml (farm extra) to validate against the DTD")
    tiny_plates(tmp_path, range(1001, 1006))
    (xml,) = export(tmp_path, "opencue", "1001-1005", 2)
    dtd = etree.DTD(str(DATA / "cjsl-1.15.dtd"))
    doc = etree.parse(str(xml))
    assert doc.docinfo.system_url.endswith("cjsl-1.15.dtd")  # the version the DTD in the tests is
    assert dtd.validate(doc), dtd.error_log.filter_from_errors()
    layers = {layer.get("name"): layer for layer in doc.iter("layer")}
    assert layers["shot_cache"].get("type") == "Util" and layers["render"].findtext("chunk") == "2"
    assert layers["render"].findtext("range") == "1001-1005"
    cmd = layers["render"].findtext("cmd")
    assert "--frames '#FRAME_START#-#FRAME_END#'" in cmd and "--skip-existing" in cmd
    dep = doc.find("depends/depend")
    assert dep.get("type") == "LAYER_ON_LAYER" and dep.findtext("onlayer") == "shot_cache"
    # what RQD runs for the frames 1001-1002: the tokens replaced, through a shell
    chunk_cmd = cmd.replace("#FRAME_START#", "1001").replace("#FRAME_END#", "1002")
    proc = subprocess.run(["/bin/sh", "-c", chunk_cmd], capture_output=True, text=True, timeout=300, cwd="/")
    assert proc.returncode == 0, proc.stderr
    assert rendered(tmp_path) == ["g.1001.exr", "g.1002.exr"]
    # a broken spec is caught by the same validation
    layers["render"].remove(layers["render"].find("chunk"))
    assert not dtd.validate(doc)
