"""mediapipe is imported without matplotlib.pyplot, and pyplot stays whole for everyone else: a
later import gets the real module, and mediapipe's own drawing helpers reach the real functions."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("mediapipe")


def _python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_mediapipe_imports_without_pyplot_and_pyplot_stays_whole():
    out = _python("""
        import sys
        from facewarp.face.mediapipe_import import import_mediapipe
        mp = import_mediapipe()
        print("pyplot after mediapipe:", "matplotlib.pyplot" in sys.modules)
        drawing = sys.modules["mediapipe.python.solutions.drawing_utils"]
        import matplotlib.pyplot as plt
        print("real module:", type(plt).__name__ == "module" and hasattr(plt, "subplots"))
        print("helpers reach it:", drawing.plt.figure is plt.figure)
    """)
    assert out.splitlines() == ["pyplot after mediapipe: False", "real module: True", "helpers reach it: True"]


def test_a_pyplot_imported_before_is_the_one_mediapipe_gets():
    out = _python("""
        import sys
        import matplotlib.pyplot as plt
        from facewarp.face.mediapipe_import import import_mediapipe
        import_mediapipe()
        print(sys.modules["mediapipe.python.solutions.drawing_utils"].plt is plt)
    """)
    assert out == "True"


def test_first_use_of_the_stand_in_imports_the_real_module():
    from facewarp.face.mediapipe_import import DeferredModule, deferred

    name = "json.tool"  # a small stdlib module nothing here has imported yet
    sys.modules.pop(name, None)
    with deferred(name):
        import json.tool as stand_in
    assert isinstance(stand_in, DeferredModule) and name not in sys.modules
    assert callable(stand_in.main)  # forwarded to the real module, imported now
    assert not isinstance(sys.modules[name], DeferredModule)
