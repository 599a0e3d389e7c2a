"""The numba run-time defaults set by facewarp.kernels before numba is imported: OpenMP
workers that sleep instead of spinning, the threading layer, and a writable compile cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from facewarp import kernels


def test_defaults_are_set_and_the_users_environment_wins(tmp_path):
    env: dict[str, str] = {}
    done = kernels.configure_numba(env, package_dir=tmp_path)  # a writable package: numba's own cache
    assert env == done == {"OMP_WAIT_POLICY": "passive", "NUMBA_THREADING_LAYER_PRIORITY": "omp tbb workqueue"}
    mine = {"OMP_WAIT_POLICY": "active", "NUMBA_THREADING_LAYER_PRIORITY": "workqueue omp tbb",
            "NUMBA_CACHE_DIR": str(tmp_path / "mine")}
    env = dict(mine)
    assert kernels.configure_numba(env, package_dir=tmp_path) == {}
    assert env == mine


def test_read_only_package_dir_gets_a_user_cache_dir(tmp_path, monkeypatch):
    package = tmp_path / "site-packages" / "facewarp" / "kernels"
    package.mkdir(parents=True)
    real_access = os.access
    # the tests may run as root, for whom chmod does not make a folder read-only: fake it
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == package else real_access(p, mode))
    env = {"XDG_CACHE_HOME": str(tmp_path / "xdg")}
    done = kernels.configure_numba(env, package_dir=package)
    assert done["NUMBA_CACHE_DIR"] == str(tmp_path / "xdg" / "facewarp" / "numba")
    assert (tmp_path / "xdg" / "facewarp" / "numba").is_dir()
    # no usable user cache either (a file where the folder would go): the temp directory
    (tmp_path / "blocked").write_text("")
    cache = kernels.numba_cache_dir({"XDG_CACHE_HOME": str(tmp_path / "blocked")}, package_dir=package)
    assert cache is not None and Path(cache).is_dir() and cache.endswith(os.path.join("numba"))
    assert "blocked" not in cache


_PROBE = """
import json, os, sys
import numpy as np
from facewarp.kernels.sampling import warp_bilinear
import numba
warp_bilinear(np.zeros((600, 600, 3), np.float32), np.zeros((600, 600, 2), np.float32), device="cpu")
print(json.dumps({"layer": numba.threading_layer(), "wait": os.environ.get("OMP_WAIT_POLICY"),
                  "cache": numba.config.CACHE_DIR}))
"""


def _probe(**env_changes):
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "NUMBA_THREADING_LAYER",
                                                            "NUMBA_THREADING_LAYER_PRIORITY", "NUMBA_CACHE_DIR")}
    env.update(env_changes)
    out = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_kernels_run_on_a_non_spinning_layer_in_a_fresh_process():
    got = _probe()
    assert got["wait"] == "passive"
    assert got["layer"] in ("omp", "tbb", "workqueue")  # omp wherever an OpenMP runtime is installed
    assert _probe(NUMBA_THREADING_LAYER="workqueue")["layer"] == "workqueue"  # the user's choice wins
