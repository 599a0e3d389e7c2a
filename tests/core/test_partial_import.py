"""A partial package runs its real ``__init__`` on the first name it lacks (or ``dir()``), into the
same module object; facewarp's Delaunay comes without the rest of scipy.spatial, and a later
``import scipy.spatial`` is whole and hands out the same Delaunay."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import textwrap
import threading

import pytest

from facewarp.core.partial_import import PartialPackage, complete, import_submodules


def _partial(name: str):
    module = importlib.util.module_from_spec(importlib.util.find_spec(name))
    module.__class__ = PartialPackage
    return module


def test_the_first_missing_name_runs_the_init_into_the_same_module():
    module = _partial("json")  # a separate module object: the json in sys.modules is untouched
    assert "loads" not in module.__dict__
    assert module.loads('{"a": 1}') == {"a": 1}
    assert type(module) is not PartialPackage
    with pytest.raises(AttributeError):
        getattr(module, "no_such_name")  # noqa: B009 - the lookup is the test
    complete(module)  # a plain module now: nothing to do


def test_dir_lists_the_whole_package():
    module = _partial("json")
    assert {"dumps", "loads", "JSONDecoder"} <= set(dir(module))
    assert type(module) is not PartialPackage


def test_a_package_laid_out_otherwise_is_imported_the_usual_way():
    name = "xmlrpc"  # a stdlib package nothing here imports
    if name in sys.modules:
        pytest.skip(f"{name} is imported already")
    with pytest.raises(ImportError):
        import_submodules((name,), (f"{name}.no_such_submodule",))
    assert type(sys.modules[name]) is type(sys)  # the partial was undone, the real package imported


def test_delaunay_comes_without_the_rest_of_scipy_spatial():
    done = subprocess.run([sys.executable, "-c", textwrap.dedent("""
        import json, sys
        from facewarp.warping import landmark
        alone = sorted(k for k in ("scipy.spatial._kdtree", "scipy.spatial.distance", "scipy.spatial.transform")
                       if k in sys.modules)
        import scipy.spatial
        print(json.dumps([alone, scipy.spatial.Delaunay is landmark.Delaunay,
                          float(scipy.spatial.KDTree([[0.0, 0.0], [3.0, 4.0]]).query([0.0, 0.0], k=2)[0][1]),
                          type(sys.modules["scipy.spatial"]).__name__]))
    """)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == [[], True, 5.0, "module"]


def test_two_threads_asking_at_once_run_the_init_once(tmp_path, monkeypatch):
    pkg = tmp_path / "fw_partial_probe"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("import time\nRUNS.append(1)\ntime.sleep(0.2)\nVALUE = 42\n")
    (pkg / "leaf.py").write_text("LEAF = 'leaf'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    runs: list[int] = []
    monkeypatch.setattr("builtins.RUNS", runs, raising=False)
    leaf = import_submodules(("fw_partial_probe",), ("fw_partial_probe.leaf",))[0]
    package = sys.modules["fw_partial_probe"]
    try:
        assert leaf.LEAF == "leaf" and runs == [] and type(package) is PartialPackage
        got = []
        threads = [threading.Thread(target=lambda: got.append(package.VALUE)) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert got == [42, 42] and runs == [1]
        assert package.leaf is leaf
    finally:
        for name in ("fw_partial_probe", "fw_partial_probe.leaf"):
            sys.modules.pop(name, None)
