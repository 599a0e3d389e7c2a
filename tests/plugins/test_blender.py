"""The Blender extension (plugins/blender) with the REAL ``bpy`` wheel (Blender 5.0.1 as a Python
module, ``pip install -e ".[blender]"``), headless, in this process: Blender's own extension tool
validates and builds it, Blender installs it into a temporary user repository and enables it, its
operator renders 5 frames of a small demo plate through facewarp.api and loads them, and the
compositor (Cycles on the CPU, the compositor only) shows that the loaded sequences equal
facewarp's EXRs and that the Map UV group reproduces facewarp's warp.

Not tested: anything that needs Blender's GUI (the sidebar panel, the operator's dialog and its
modal render in a worker thread; its RenderJob is tested without bpy), Blender 4.2-4.5, and a
Blender whose Python gets facewarp from $FACEWARP_SITE. The plain logic (logic.py) is tested
without bpy. bpy runs in the pytest process; $BLENDER_USER_RESOURCES points at a temporary folder
before it starts, so nothing lands in the real Blender user folder."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tomllib
from importlib import import_module
from pathlib import Path

import numpy as np
import pytest

import facewarp
from facewarp import api
from facewarp.core.conventions import stmap_to_displacement
from facewarp.core.errors import FacewarpError, UsageError
from facewarp.imaging.demo import write_demo_plates
from facewarp.imaging.plates import read_plate
from facewarp.kernels.sampling import warp_bilinear
from facewarp.plugins.blender import logic

ROOT = Path(facewarp.__file__).resolve().parent
PLUGIN = ROOT / "plugins" / "blender"
FRAMES = tuple(range(1001, 1006))
SIZE = (320, 180)
_BPY = importlib.util.find_spec("bpy")
needs_bpy = pytest.mark.skipif(_BPY is None, reason="bpy (Blender as a Python module) is not installed: "
                                                    "pip install -e \".[blender]\" (README, 'Blender')")
ADDON = "bl_ext.user_default.facewarp"


def _blender_ext() -> Path:
    """Blender's extension command-line tool, shipped inside the bpy wheel."""
    found = sorted(Path(_BPY.submodule_search_locations[0]).glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
    assert found, "bpy ships no blender_ext.py"
    return found[-1]


def _ext(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(_blender_ext()), *args], capture_output=True, text=True, timeout=120)


# -- the manifest (no bpy needed) -----------------------------------------------------------
def test_manifest_fields_and_package_data():
    manifest = tomllib.loads((PLUGIN / "blender_manifest.toml").read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert manifest["schema_version"] == "1.0.0" and manifest["id"] == "facewarp" and manifest["type"] == "add-on"
    assert manifest["version"] == project["project"]["version"]
    assert tuple(int(v) for v in manifest["blender_version_min"].split(".")) >= (4, 2, 0)
    assert manifest["license"] == ["SPDX:Apache-2.0"] and project["project"]["license"] == "Apache-2.0"
    assert len(manifest["tagline"]) <= 64 and manifest["tagline"][-1].isalnum()
    setuptools = project["tool"]["setuptools"]
    assert "facewarp.plugins.blender" in setuptools["packages"]
    assert "blender_manifest.toml" in setuptools["package-data"]["facewarp.plugins.blender"]
    assert "bpy==5.0.1" in project["project"]["optional-dependencies"]["blender"]


def test_the_package_imports_without_bpy():
    code = ("import sys; import facewarp.plugins.blender as b, facewarp.plugins.blender.logic; "
            "assert 'bpy' not in sys.modules and callable(b.register) and callable(b.unregister)")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


# -- logic (no bpy needed) ------------------------------------------------------------------
def test_sequence_pattern():
    assert logic.sequence_pattern("/s/plate.1001.exr") == "/s/plate.####.exr"
    assert logic.sequence_pattern("/s/v2/plate_0001.png") == "/s/v2/plate_####.png"
    assert logic.sequence_pattern("/s/plate.%04d.exr") == "/s/plate.%04d.exr"
    assert logic.sequence_pattern("/s/still.exr") == "/s/still.exr"


@pytest.mark.parametrize("name", ["grade_exr", "reanimate"])
def test_property_specs_are_the_preset_vars(name):
    preset = api.load_preset(name)
    specs = {s.name: s for s in logic.property_specs(preset)}
    assert set(specs) == set(preset.variables) - {"plate"}  # the plate is the operator's own input
    for n, s in specs.items():
        var = preset.variables[n]
        assert s.kind == var.kind and s.function == logic.PROPERTY_KINDS[var.kind] and s.default == var.default
        assert (s.min, s.max) == (var.min, var.max) and s.description == (var.doc or n)
    if name == "grade_exr":
        assert specs["gain"].function == "FloatProperty" and specs["gain"].min == 0
        assert specs["out"].subtype == "FILE_PATH"


def test_parse_variables():
    assert logic.parse_variables("") == {} and logic.parse_variables(' {"gain": 1.5} ') == {"gain": 1.5}
    with pytest.raises(UsageError, match="JSON object"):
        logic.parse_variables("gain=1.5")
    with pytest.raises(UsageError, match="got list"):
        logic.parse_variables("[1]")


def test_prepare_anchors_relative_paths_and_lists_outputs(tmp_path):
    preset = logic.prepare("reanimate", {"keys": "1001: smile=0.5"}, str(tmp_path / "p" / "plate.1001.exr"), str(tmp_path))
    assert preset.values["plate"] == str(tmp_path / "p" / "plate.####.exr") and preset.values["keys"] == "1001: smile=0.5"
    seqs = {s.node: s for s in logic.output_sequences(preset)}
    assert seqs["write"].pattern == str(tmp_path / "out" / "reanimate.####.exr") and seqs["write"].kind == "image"
    stmap = seqs["write_stmap"]
    assert (stmap.pattern, stmap.kind, stmap.channels) == (str(tmp_path / "out/stmap/reanimate_stmap.####.exr"), "stmap", "forward")
    assert stmap.path(1002) == str(tmp_path / "out/stmap/reanimate_stmap.1002.exr")
    with pytest.raises(UsageError, match="no variable 'nope'"):
        logic.prepare("grade_exr", {"nope": 1}, None, str(tmp_path))


def test_render_job_progress_cancel_and_thread(tmp_path):
    write_demo_plates(str(tmp_path / "plates" / "plate.####.exr"), FRAMES[:3], size=(64, 36))
    preset = logic.prepare("grade_exr", {"gain": 2.0}, str(tmp_path / "plates" / "plate.1001.exr"), str(tmp_path))
    job = logic.RenderJob(preset, FRAMES[:3], str(tmp_path), mode="overwrite", device="cpu")
    seen = []
    progress = job._progress

    def cancel_after_one(done, total, frame, seconds):
        progress(done, total, frame, seconds)
        seen.append((done, total, frame))
        if done == 1:
            job.cancel()

    job._progress = cancel_after_one
    job.run()
    assert job.cancelled and job.error is None and seen[:2] == [(0, 3, None), (1, 3, 1001)]
    # frames computed before the cancel are finished (writes run behind the frame loop, so the one being
    # computed when frame 1001 was reported is written too); each file on disk was reported, none after
    written = sorted(os.listdir(tmp_path / "out"))
    assert written == [f"graded.{f}.exr" for _, _, f in seen[1:]] and written[0] == "graded.1001.exr"
    assert "graded.1003.exr" not in written
    threaded = logic.RenderJob(preset, FRAMES[:3], str(tmp_path), mode="overwrite", device="cpu").start()
    assert threaded.wait(120) and not threaded.running and threaded.error is None
    assert (threaded.done, threaded.total) == (3, 3) and threaded.result.frames == FRAMES[:3]
    bad = logic.RenderJob(preset, FRAMES[:3], str(tmp_path), mode="error", device="cpu").run()  # frames exist now
    assert bad.error and "\n" not in bad.error and bad.result is None


# -- Blender's own extension tool -----------------------------------------------------------
@needs_bpy
def test_blender_ext_validates_and_builds_the_extension(tmp_path):
    ok = _ext("validate", str(PLUGIN))
    assert ok.returncode == 0 and "Success" in ok.stdout, ok.stdout + ok.stderr
    broken = tmp_path / "broken"
    shutil.copytree(PLUGIN, broken, ignore=shutil.ignore_patterns("__pycache__"))
    text = (broken / "blender_manifest.toml").read_text()
    (broken / "blender_manifest.toml").write_text(text.replace('type = "add-on"', 'type = "plugin"'))
    bad = _ext("validate", str(broken))
    assert bad.returncode != 0 and "type" in bad.stdout + bad.stderr  # the tool really checks
    built = _ext("build", "--source-dir", str(PLUGIN), "--output-dir", str(tmp_path))
    assert built.returncode == 0, built.stdout + built.stderr
    import zipfile

    names = set(zipfile.ZipFile(tmp_path / "facewarp-0.1.0.zip").namelist())
    assert {"blender_manifest.toml", "__init__.py", "logic.py", "ops.py", "compositor.py"} <= names
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    assert _ext("validate", str(tmp_path / "facewarp-0.1.0.zip")).returncode == 0


# -- in Blender ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def blender(tmp_path_factory):
    """bpy with the extension built by blender_ext.py, installed by Blender into a temporary user
    repository ($BLENDER_USER_RESOURCES, set before bpy starts) and enabled."""
    if _BPY is None:
        pytest.skip("bpy (Blender as a Python module) is not installed: pip install -e \".[blender]\"")
    if "bpy" in sys.modules and not os.environ.get("BLENDER_USER_RESOURCES", "").startswith(str(tmp_path_factory.getbasetemp())):
        pytest.skip("bpy was imported before these tests could point BLENDER_USER_RESOURCES at a temporary folder; "
                    "they would install into the real Blender user folder")
    saved = os.environ.get("BLENDER_USER_RESOURCES")
    os.environ["BLENDER_USER_RESOURCES"] = str(tmp_path_factory.mktemp("blender_user"))  # read when bpy starts
    import bpy

    dist = tmp_path_factory.mktemp("dist")
    built = _ext("build", "--source-dir", str(PLUGIN), "--output-dir", str(dist))
    assert built.returncode == 0, built.stdout + built.stderr
    result = bpy.ops.extensions.package_install_files(filepath=str(dist / "facewarp-0.1.0.zip"), repo="user_default",
                                                      enable_on_install=True, overwrite=True)
    assert result == {"FINISHED"}
    yield bpy
    if ADDON in bpy.context.preferences.addons:
        bpy.ops.preferences.addon_disable(module=ADDON)
    if saved is None:
        os.environ.pop("BLENDER_USER_RESOURCES", None)
    else:
        os.environ["BLENDER_USER_RESOURCES"] = saved


def _scene(bpy, name: str):
    scene = bpy.data.scenes.new(name)
    scene.frame_start, scene.frame_end = FRAMES[0], FRAMES[-1]
    scene.render.resolution_x, scene.render.resolution_y = SIZE
    scene.render.resolution_percentage = 100
    return scene


def _render_compositor(bpy, scene, frame: int, path: Path) -> np.ndarray:
    """Render ``scene`` at ``frame`` (Cycles, CPU, 1 sample, an empty scene: the compositor is what
    is tested) to a 32-bit float EXR, read back with OpenImageIO (row 0 = top)."""
    scene.render.engine = "CYCLES"
    scene.cycles.device, scene.cycles.samples = "CPU", 1
    if scene.camera is None:
        cam = bpy.data.objects.new(f"{scene.name} camera", bpy.data.cameras.new(f"{scene.name} camera"))
        scene.collection.objects.link(cam)
        scene.camera = cam
    scene.view_settings.view_transform = "Standard"
    scene.render.use_compositing = True
    scene.render.image_settings.file_format = "OPEN_EXR"
    scene.render.image_settings.color_depth = "32"
    scene.render.filepath = str(path)
    scene.frame_set(frame)
    with bpy.context.temp_override(scene=scene):
        assert bpy.ops.render.render(write_still=True) == {"FINISHED"}
    return read_plate(str(path)).pixels


@pytest.fixture(scope="module")
def shot(blender, tmp_path_factory):
    """The operator run once: reanimate over 5 frames of a 320x180 demo plate, results loaded and
    wired into the scene compositor."""
    bpy = blender
    root = tmp_path_factory.mktemp("shot")
    write_demo_plates(str(root / "plates" / "plate.####.exr"), FRAMES, size=SIZE)
    scene = _scene(bpy, "facewarp shot")
    with bpy.context.temp_override(scene=scene):
        # mouth_interior off: the comparisons below are of the warp, which the STMap carries
        result = bpy.ops.facewarp.run_preset(preset="reanimate", plate=str(root / "plates" / "plate.1001.exr"),
                                             variables='{"mouth_interior": "off"}',
                                             output_root=str(root), setup_compositor=True)
    assert result == {"FINISHED"}
    return bpy, scene, root


@needs_bpy
def test_extension_installs_and_registers(blender):
    bpy = blender
    assert ADDON in bpy.context.preferences.addons
    repo = Path(bpy.utils.user_resource("EXTENSIONS")) / "user_default" / "facewarp"
    assert (repo / "blender_manifest.toml").is_file() and (repo / "ops.py").is_file()
    ops = set(dir(bpy.ops.facewarp))
    loadable = set()
    for name, path in logic.bundled_presets().items():
        try:
            api.load_preset(path)
            loadable.add(name)
        except FacewarpError:  # a broken preset gets no operator; the others still do
            pass
    assert {"grade_exr", "reanimate"} <= loadable
    assert {"run_preset", "add_stmap_group"} | {f"run_{logic.operator_suffix(n)}" for n in loadable} <= ops
    # the per-preset operators' properties are the preset's variables, with their defaults
    props = bpy.ops.facewarp.run_grade_exr.get_rna_type().properties
    preset = api.load_preset("grade_exr")
    for name, var in preset.variables.items():
        if name != "plate":
            default = props[name].default
            assert (default == pytest.approx(var.default)) if var.kind == "float" else (default == var.default), name
    assert props["gain"].hard_min == 0 and props["out"].subtype == "FILE_PATH"
    assert props["plate"].subtype == "FILE_PATH"
    generic = bpy.ops.facewarp.run_preset.get_rna_type().properties.keys()
    assert set(generic) - {"rna_type"} <= logic.RESERVED  # no preset variable can shadow the operator's own


@needs_bpy
def test_unregister_and_register_again(blender, tmp_path, monkeypatch, capsys):
    bpy = blender
    bpy.ops.preferences.addon_disable(module=ADDON)
    assert ADDON not in bpy.context.preferences.addons and not hasattr(bpy.types, "FACEWARP_OT_run_preset")
    assert "run_reanimate" not in dir(bpy.ops.facewarp)
    # a broken bundled preset gets no operator and does not stop the extension from enabling
    broken = tmp_path / "broken.yaml"
    broken.write_text("facewarp: 1\nnodes: {a: {type: NoSuchNode}}\noutputs: [a]\n")
    installed = import_module(f"{ADDON}.logic")
    bundled = installed.bundled_presets()
    monkeypatch.setattr(installed, "bundled_presets", lambda: {**bundled, "broken": str(broken)})
    bpy.ops.preferences.addon_enable(module=ADDON)
    assert ADDON in bpy.context.preferences.addons and hasattr(bpy.types, "FACEWARP_OT_run_preset")
    assert "run_reanimate" in dir(bpy.ops.facewarp) and "run_broken" not in dir(bpy.ops.facewarp)
    assert "no operator for the bundled preset 'broken'" in capsys.readouterr().err


@needs_bpy
def test_operator_renders_five_frames_and_loads_facewarps_exrs(shot, tmp_path):
    bpy, scene, root = shot
    for frame in FRAMES:
        assert (root / "out" / f"reanimate.{frame}.exr").is_file()
        assert (root / "out" / "stmap" / f"reanimate_stmap.{frame}.exr").is_file()
    compositor = import_module(f"{ADDON}.compositor")
    render = compositor.find_image(str(root / "out" / "reanimate.####.exr"))
    stmap = compositor.find_image(str(root / "out" / "stmap" / "reanimate_stmap.####.exr"))
    assert render.name == "reanimate.####.exr" and stmap.name == "reanimate_stmap.####.exr"
    assert render.source == stmap.source == "SEQUENCE"
    assert render.colorspace_settings.name == "Linear Rec.709" and stmap.colorspace_settings.name == "Non-Color"
    assert render["facewarp_first"] == FRAMES[0] and render["facewarp_last"] == FRAMES[-1]
    tree = scene.compositing_node_group
    assert {"facewarp image 0", "facewarp stmap 1", "facewarp plate", "facewarp STMap"} <= set(tree.nodes.keys())
    # what Blender shows of the loaded sequence, frame by frame, is facewarp's EXR
    got = {f: _render_compositor(bpy, scene, f, tmp_path / f"check.{f}.exr") for f in FRAMES}
    for frame in FRAMES:
        want = read_plate(str(root / "out" / f"reanimate.{frame}.exr"), channels="R,G,B").pixels
        assert np.array_equal(got[frame][..., :3], want), frame
    assert np.abs(got[FRAMES[0]][..., :3] - got[FRAMES[-1]][..., :3]).max() > 0.01  # really different frames


@needs_bpy
def test_typed_preset_operator_and_errors(blender, tmp_path):
    bpy = blender
    write_demo_plates(str(tmp_path / "plates" / "plate.####.exr"), FRAMES[:2], size=(64, 36))
    scene = _scene(bpy, "facewarp grade")
    with bpy.context.temp_override(scene=scene):
        assert bpy.ops.facewarp.run_grade_exr(plate=str(tmp_path / "plates" / "plate.1001.exr"), gain=2.0,
                                              use_scene_range=False, frame_start=1001, frame_end=1002,
                                              output_root=str(tmp_path)) == {"FINISHED"}
        for frame in FRAMES[:2]:
            out = read_plate(str(tmp_path / "out" / f"graded.{frame}.exr")).pixels
            plate = read_plate(str(tmp_path / "plates" / f"plate.{frame}.exr")).pixels
            np.testing.assert_allclose(out, 2.0 * plate, rtol=2e-3, atol=1e-4)
        compositor = import_module(f"{ADDON}.compositor")
        assert compositor.find_image(str(tmp_path / "out" / "graded.####.exr")).name == "graded.####.exr"
        with pytest.raises(RuntimeError, match="no variable 'nope'"):
            bpy.ops.facewarp.run_preset(preset="grade_exr", variables='{"nope": 1}', output_root=str(tmp_path))
        with pytest.raises(RuntimeError, match="JSON object"):
            bpy.ops.facewarp.run_preset(preset="grade_exr", variables="gain=2", output_root=str(tmp_path))
        with pytest.raises(RuntimeError, match="no Image or Movie Clip"):
            bpy.ops.facewarp.run_preset(preset="grade_exr", image="missing", output_root=str(tmp_path))


@needs_bpy
def test_operator_on_a_movie_clip(blender, tmp_path):
    """A Movie Clip (an H.264 MP4) as the plate: the frames to render are decoded into an EXR
    sequence under the output folder, through the sRGB curve, and the preset runs on them."""
    from facewarp.core.color import to_linear
    from facewarp.imaging.demo import demo_plate
    from facewarp.imaging.movie import read_mp4, write_mp4

    bpy = blender
    movie = tmp_path / "clip.mp4"
    frames = [(np.clip(demo_plate(f, (64, 36)).pixels, 0, 1) ** (1 / 2.2) * 255).astype(np.uint8) for f in range(4)]
    write_mp4(frames, str(movie))
    decoded, _ = read_mp4(str(movie))
    clip = bpy.data.movieclips.load(str(movie))
    clip.frame_start = 1001  # movie frame 0 plays at scene frame 1001
    scene = _scene(bpy, "facewarp clip")
    with bpy.context.temp_override(scene=scene):
        assert bpy.ops.facewarp.run_preset(preset="grade_exr", image=clip.name, use_scene_range=False,
                                           frame_start=1002, frame_end=1003, output_root=str(tmp_path)) == {"FINISHED"}
    assert sorted(os.listdir(tmp_path / "facewarp_plates")) == ["clip.1002.exr", "clip.1003.exr"]
    for frame in (1002, 1003):
        plate = read_plate(str(tmp_path / "facewarp_plates" / f"clip.{frame}.exr")).pixels
        np.testing.assert_allclose(plate, to_linear(decoded[frame - 1001].astype(np.float32) / 255, "srgb"), atol=1e-3)
        graded = read_plate(str(tmp_path / "out" / f"graded.{frame}.exr")).pixels
        np.testing.assert_allclose(graded, plate, atol=1e-3)
    with bpy.context.temp_override(scene=scene), pytest.raises(RuntimeError, match="no frame for scene frame"):
        bpy.ops.facewarp.run_preset(preset="grade_exr", image=clip.name, use_scene_range=False, frame_start=1003,
                                    frame_end=1010, output_root=str(tmp_path))


@needs_bpy
@pytest.mark.parametrize("shift,border", [((0.0, 0.0), "clamp"), ((1.0, 0.0), "clamp"), ((0.25, -0.5), "clamp"),
                                          ((2.5, -3.25), "clamp"), ((2.5, -3.25), "zero")])
def test_map_uv_samples_stmaps_as_facewarp_defines_them(blender, tmp_path, shift, border):
    """Blender's Map UV and facewarp's STMap agree on the convention (UV in [0, 1], origin
    bottom-left, pixel centres at (j + 0.5) / W): identity is exact, a whole-pixel shift moves
    pixels exactly, a fractional one interpolates as facewarp's bilinear sampler does; outside
    the image, each facewarp border mode is the group's Map UV extension."""
    from facewarp.core.conventions import displacement_to_stmap
    from facewarp.core.types import Image
    from facewarp.imaging.plates import write_plate

    bpy = blender
    compositor = import_module(f"{ADDON}.compositor")
    with pytest.raises(ValueError, match="not 'reflect'"):  # Map UV has no mirrored extension
        compositor.stmap_group("reflect")
    h, w = 16, 24
    rng = np.random.default_rng(7)
    src = rng.random((h, w, 3)).astype(np.float32)
    field = np.zeros((h, w, 2), np.float32)
    field[..., 0], field[..., 1] = shift
    write_plate(str(tmp_path / "src.exr"), Image(src), pixel_type="float")
    uv = displacement_to_stmap(field)
    write_plate(str(tmp_path / "uv.exr"), Image(np.dstack([uv, np.ones((h, w), np.float32)]), ("R", "G", "A"), "data"),
                pixel_type="float")
    scene = _scene(bpy, f"facewarp convention {shift} {border}")
    scene.render.resolution_x, scene.render.resolution_y = w, h
    tree = compositor.compositor_tree(scene)
    src_node = compositor.image_node(tree, bpy.data.images.load(str(tmp_path / "src.exr")), "src")
    uv_image = bpy.data.images.load(str(tmp_path / "uv.exr"))
    uv_image.colorspace_settings.name, uv_image.alpha_mode = "Non-Color", "CHANNEL_PACKED"
    uv_node = compositor.image_node(tree, uv_image, "uv")
    group = tree.nodes.new("CompositorNodeGroup")
    group.node_tree = compositor.stmap_group(border)
    tree.links.new(compositor.color_output(src_node), group.inputs["Image"])
    tree.links.new(compositor.stmap_output(uv_node), group.inputs["STMap"])
    tree.links.new(group.outputs["Image"], tree.nodes.new("NodeGroupOutput").inputs[0])
    got = _render_compositor(bpy, scene, FRAMES[0], tmp_path / "got.exr")[..., :3]
    want = warp_bilinear(src, field, border)
    assert float(np.abs(got - want).max()) < 1e-5
    if shift == (1.0, 0.0):
        np.testing.assert_allclose(got[:, :-1], src[:, 1:], atol=1e-5)  # out(x) = src(x + 1)


@needs_bpy
@pytest.mark.parametrize("channels", ["forward", "rgb"])
def test_map_uv_group_reproduces_facewarps_warp(shot, tmp_path, channels):
    """The group, fed with facewarp's STMap (multilayer forward.u/forward.v, or R/G), applied to the
    plate in Blender's compositor, equals facewarp's own warp (its bilinear sampler through the
    same field) within 1e-3 where the field is valid, on all 5 frames."""
    bpy, _, root = shot
    compositor = import_module(f"{ADDON}.compositor")
    scene = _scene(bpy, f"facewarp mapuv {channels}")
    tree = compositor.compositor_tree(scene)
    out = tree.nodes.new("NodeGroupOutput")
    plate = compositor.load_plate(str(root / "plates" / "plate.####.exr"), FRAMES)
    if channels == "forward":
        stmap = compositor.find_image(str(root / "out" / "stmap" / "reanimate_stmap.####.exr"))
    else:  # the same STMap written with R, G, A channels (STMapExport channels: rgb)
        from facewarp.core.types import Image
        from facewarp.imaging.plates import write_plate

        for f in FRAMES:
            st = read_plate(str(root / "out/stmap" / f"reanimate_stmap.{f}.exr"), channels="forward.u,forward.v,A")
            write_plate(str(tmp_path / f"stmap_rgb.{f}.exr"), Image(st.pixels, ("R", "G", "A"), "data"), pixel_type="float")
        stmap = compositor.load_sequence(logic.OutputSequence("stmap_rgb", str(tmp_path / "stmap_rgb.####.exr"), "stmap", "rgb"), FRAMES)
    src = compositor.image_node(tree, plate, "plate")
    uv = compositor.image_node(tree, stmap, "stmap")
    group = tree.nodes.new("CompositorNodeGroup")
    group.node_tree = compositor.stmap_group()
    tree.links.new(compositor.color_output(src), group.inputs["Image"])
    tree.links.new(compositor.stmap_output(uv), group.inputs["STMap"])
    tree.links.new(group.outputs["Image"], out.inputs[0])
    assert "Map UV" in group.node_tree.nodes and group.node_tree.nodes["Map UV"].bl_idname == "CompositorNodeMapUV"
    worst = moved = 0.0
    for f in FRAMES:
        got = _render_compositor(bpy, scene, f, tmp_path / f"mapuv.{f}.exr")[..., :3]
        st = read_plate(str(root / "out/stmap" / f"reanimate_stmap.{f}.exr"), channels="forward.u,forward.v,A").pixels
        pixels = read_plate(str(root / "plates" / f"plate.{f}.exr")).pixels
        want = warp_bilinear(pixels, stmap_to_displacement(st[..., :2]), "clamp")[..., :3]
        covered = st[..., 2] > 0.5
        assert covered.mean() > 0.9
        err = float(np.abs(got - want)[covered].max())
        worst = max(worst, err)
        assert err < 1e-3, (f, err)
        moved = max(moved, float(np.abs(want - pixels[..., :3]).max()))
        # and facewarp's own render (a half-float EXR) agrees to half precision
        rendered = read_plate(str(root / "out" / f"reanimate.{f}.exr"), channels="R,G,B").pixels
        assert float(np.abs(got - rendered)[covered].max()) < 1e-3
    assert moved > 0.05  # the warp really moves pixels (frame 1001's keys are neutral; the others are not)
    print(f"Map UV group vs facewarp warp ({channels}): max abs error {worst:.3g} over {len(FRAMES)} frames")
