"""CI without a GPU: every kernels/*.cu must compile with nvcc (a syntax error fails here)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

KERNELS = Path(__file__).resolve().parents[2] / "kernels"
SOURCES = sorted(KERNELS.glob("*.cu"))


def test_there_are_cuda_sources():
    names = {p.stem for p in SOURCES}
    assert {"warp", "reswarp", "raster", "triwarp"} <= names


@pytest.mark.parametrize("source", SOURCES, ids=[p.name for p in SOURCES])
def test_cuda_source_compiles_with_nvcc(source, tmp_path):
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        pytest.skip("nvcc not on PATH")
    # --ptx compiles device code for the default virtual arch (no GPU needed); -Werror-like
    # strictness: any warning fails too, so sloppy code does not creep in
    cmd = [nvcc, "--ptx", "-std=c++17", f"-I{KERNELS}", "-o", str(tmp_path / (source.stem + ".ptx")), str(source)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "warning" not in proc.stderr.lower(), proc.stderr
    ptx = (tmp_path / (source.stem + ".ptx")).read_text()
    if not source.stem.endswith("_common"):  # the shared device-code files have no kernels
        assert ".entry" in ptx  # kernels were emitted
