"""``facewarp warmup`` fills numba's cache so that a later render on the same machine compiles
nothing: counted with numba's own compile events, in fresh processes sharing one empty
NUMBA_CACHE_DIR."""

from __future__ import annotations

import os
import subprocess
import sys

# `facewarp ARGS` in this process; the last stdout line is the number of numba compiles
_COUNTING = """
import sys
from numba.core import event
compiled = []
class Count(event.Listener):
    def on_start(self, ev):
        compiled.append(str(ev.data.get("dispatcher")))
    def on_end(self, ev):
        pass
event.register("numba:compile", Count())
from facewarp.cli import main
rc = main(sys.argv[1:])
print(len(compiled))
sys.exit(rc)
"""


def _facewarp_counting(args, cwd, cache):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache))
    proc = subprocess.run([sys.executable, "-c", _COUNTING, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return int(proc.stdout.strip().splitlines()[-1]), proc.stderr


def test_a_render_after_warmup_compiles_nothing(tmp_path):
    cache = tmp_path / "numba"
    compiled, err = _facewarp_counting(["warmup", "--presets", "reanimate"], tmp_path, cache)
    assert compiled > 0  # the counter sees compiles (and the cache started empty)
    assert "warmup: reanimate:" in err and str(cache) in err
    assert not [p for p in tmp_path.iterdir() if p.name != "numba"]  # nothing left but the cache
    # another size than warmup's, RGB, the whole reanimate run (tracking, fitting, every frame)
    from facewarp.imaging.demo import write_demo_plates

    write_demo_plates(str(tmp_path / "plates" / "p.####.exr"), range(1001, 1004), (480, 270))
    compiled, err = _facewarp_counting(["run", "reanimate", "--frames", "1001-1003", "--quiet",
                                        "--set", "plate=plates/p.####.exr", "--set", "out=out/r.####.exr",
                                        "--set", "stmap=out/s.####.exr"], tmp_path, cache)
    assert compiled == 0
    assert sorted(os.listdir(tmp_path / "out")) == [f"{k}.{f}.exr" for k in "rs" for f in range(1001, 1004)]
