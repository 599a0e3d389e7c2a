"""A real face as a plate sequence: frames of the GRID clip in ../shared/data written as EXRs
(skips the test when ../shared or PyAV is absent). Used by the shot-cache and farm tests."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import shared_file

from facewarp.core.color import to_linear
from facewarp.core.types import Image
from facewarp.imaging.plates import write_plate

FIRST, LAST = 1001, 1006
# keyframes that move the mouth across the range (reanimate.yaml's `keys`)
KEYS = "keys=1001: jaw_open=0, smile=0; 1003: jaw_open=0.6, smile=0.3; 1006: jaw_open=0.1, smile=0.8"


def grid_plates(folder, first: int = FIRST, last: int = LAST) -> str:
    """Frames of the GRID clip (360x288, a man speaking) as half-float linear EXRs under
    ``folder/plates``; returns the sequence pattern."""
    av = pytest.importorskip("av")
    clip = shared_file("driving/grid_swiz3n.mpg")
    pattern = str(folder / "plates" / "grid.####.exr")
    with av.open(str(clip)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if first + i > last:
                break
            rgb = frame.to_ndarray(format="rgb24").astype(np.float32) / 255.0
            write_plate(pattern.replace("####", f"{first + i:04d}"), Image(to_linear(rgb, "srgb")), pixel_type="half")
    return pattern
