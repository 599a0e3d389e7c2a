"""Shared test fixtures: real data from ../shared (skipped when absent), GPU skips."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# The tests mirror the packages (tests/graph, tests/face, ...); their shared helpers (_nodes,
# _face_helpers, _cuda_emulator) stay here and are imported by name.
sys.path.insert(0, str(Path(__file__).resolve().parent))

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FACEWARP_SHARED", REPO.parent / "shared"))


def shared_file(relative: str) -> Path:
    """Path of a file under ../shared/data, or skip the test with the reason."""
    path = SHARED / "data" / relative
    if not path.exists():
        pytest.skip(f"needs {path} (the ../shared test data beside the checkout is absent)")
    return path


@pytest.fixture
def portrait_path() -> Path:
    return shared_file("portraits/interfaces_001.jpg")


@pytest.fixture
def driving_clip_path() -> Path:
    return shared_file("driving/grid_swiz3n.mpg")


@pytest.fixture
def canonical_mesh_path() -> Path:
    return shared_file("mesh/canonical_face_model.obj")


def _cuda_available() -> bool:
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


def pytest_collection_modifyitems(config, items):
    if _cuda_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU and CuPy (none here); runs on the device machine")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
