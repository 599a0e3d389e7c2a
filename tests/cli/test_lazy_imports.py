"""A preset without networks or face tracking never imports torch or MediaPipe: the CLI and
every node module import them only when a node that needs them runs (a farm task pays ~2 s
for torch otherwise)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import resources

HEAVY = ("torch", "mediapipe", "tensorflow", "onnxruntime", "av")  # av (PyAV): 0.1 s, movies only

_SCRIPT = """
import json, sys
HEAVY = sys.argv[2].split(",")
import numpy as np
from facewarp.cli import main
from facewarp.core.types import Image
from facewarp.imaging.plates import write_plate
for f in (1001, 1002):
    write_plate(f"plates/plate.{f}.exr", Image(np.full((16, 24, 3), 0.25, np.float32), ("R", "G", "B")))
preset = sys.argv[1]
args = ["--frames", "1001-1002", "--set", "plate=plates/plate.####.exr", "--set", "out=out/o.####.exr"]
codes = [main(["validate", preset, *args]), main(["run", preset, *args])]
print(json.dumps({"codes": codes, "heavy": [m for m in HEAVY if m in sys.modules]}))
"""


def test_grade_preset_validates_and_runs_without_torch_or_mediapipe(tmp_path):
    preset = str(resources.files("facewarp") / "presets" / "grade_exr.yaml")
    env = {**os.environ, "FACEWARP_OUTPUT_ROOT": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", _SCRIPT, preset, ",".join(HEAVY)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["codes"] == [0, 0], proc.stderr[-2000:]
    assert got["heavy"] == []
    assert (tmp_path / "out" / "o.1002.exr").is_file()


def test_importing_every_node_type_imports_no_heavy_library():
    code = ("import sys; from facewarp.graph import registry; registry.node_types(); import facewarp.cli; "
            f"print([m for m in {HEAVY!r} if m in sys.modules])")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "[]"
