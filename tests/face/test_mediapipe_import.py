"""facewarp imports mediapipe's face detection and face mesh without the rest of mediapipe, and
mediapipe stays whole for everyone else: a later ``import mediapipe`` gets every name a normal
import has, the same module objects included."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from importlib.metadata import version

import pytest

pytest.importorskip("mediapipe")

PUBLIC = """
def public(m):
    return sorted(n for n in dir(m) if not n.startswith("_"))
"""


def _python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(PUBLIC) + textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def test_only_the_two_solutions_are_imported():
    out = json.loads(_python("""
        import json, sys
        from facewarp.face.mediapipe_import import import_solutions
        sol = import_solutions()
        print(json.dumps({"solutions": sorted(k.rsplit(".", 1)[1] for k in sys.modules
                                              if k.startswith("mediapipe.python.solutions.")),
                          "tasks": "mediapipe.tasks" in sys.modules, "pyplot": "matplotlib.pyplot" in sys.modules,
                          "classes": [sol.face_mesh.FaceMesh.__name__, sol.face_detection.FaceDetection.__name__]}))
    """))
    assert out == {"solutions": ["face_detection", "face_mesh", "face_mesh_connections"], "tasks": False,
                   "pyplot": False, "classes": ["FaceMesh", "FaceDetection"]}


def test_a_later_import_of_mediapipe_is_whole():
    normal = json.loads(_python("""
        import json, sys
        import mediapipe as mp
        print(json.dumps([public(mp), public(mp.solutions), public(sys.modules["mediapipe.python"])]))
    """))
    after = json.loads(_python("""
        import json, sys
        from facewarp.face.mediapipe_import import import_solutions
        sol = import_solutions()
        import mediapipe as mp
        from mediapipe import solutions
        same = mp.solutions is solutions and solutions.face_mesh is sol.face_mesh
        listed = [public(mp), public(mp.solutions), public(sys.modules["mediapipe.python"])]  # dir() completes them
        kinds = [type(sys.modules[n]).__name__ for n in ("mediapipe", "mediapipe.python", "mediapipe.python.solutions")]
        print(json.dumps(listed + [same, kinds, mp.__version__, mp.solutions.hands.Hands.__name__,
                                   mp.tasks.vision.FaceLandmarker.__name__]))
    """))
    for name, want, got in zip(("mediapipe", "solutions", "mediapipe.python"), normal, after[:3]):
        assert set(want) <= set(got), (name, sorted(set(want) - set(got)))
        # at most the submodules facewarp imported first are also bound there (e.g. solution_base)
        assert len(set(got) - set(want)) <= 1, (name, sorted(set(got) - set(want)))
    assert after[3:5] == [True, ["module"] * 3]
    assert after[5:] == [version("mediapipe"), "Hands", "FaceLandmarker"]


def test_mediapipe_imported_first_is_used_as_it_is():
    out = _python("""
        import sys
        import mediapipe as mp
        from facewarp.face.mediapipe_import import import_solutions
        print(import_solutions() is mp.solutions and type(sys.modules["mediapipe"]).__name__ == "module")
    """)
    assert out == "True"
