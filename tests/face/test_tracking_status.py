"""The tracking status names and their order (face/tracking.py), defined once."""

from __future__ import annotations

import numpy as np

from facewarp.core.types import FlameParams, Landmarks, Mesh
from facewarp.face import tracking as fm


def test_worse_status_orders_found_interpolated_held_missing():
    assert fm.STATUSES == ("found", "interpolated", "held", "missing")
    assert fm.worse_status("found", "interpolated") == "interpolated"
    assert fm.worse_status("held", "interpolated") == "held"
    assert fm.worse_status("found", "missing", "held") == "missing"
    assert fm.worse_status("found", None, "nonsense") == "found"  # unknown or absent: no worse than found
    assert fm.worse_status() == "found"
    assert fm.GUESSED == ("interpolated", "held")


def test_status_of_reads_info_then_found():
    lm = Landmarks(np.zeros((3, 2)))
    assert fm.status_of(lm) == "found"
    assert fm.status_of(Landmarks(np.zeros((3, 2)), found=False)) == "missing"
    assert fm.status_of(Landmarks(np.zeros((3, 2)), info={"status": "held"})) == "held"
    mesh = Mesh(np.zeros((3, 3)), np.zeros((1, 3)))
    fp = FlameParams(np.zeros(2), np.zeros(2))
    fm.stamp_status("interpolated", mesh, fp)
    assert fm.status_of(mesh) == fm.status_of(fp) == "interpolated"


def test_fill_missing_statuses_are_the_constants():
    pts = [np.zeros((2, 2)), None, np.ones((2, 2)), None]
    _, status = fm.fill_missing(pts, "interpolate")
    assert status == [fm.FOUND, fm.INTERPOLATED, fm.FOUND, fm.HELD]


def test_mesh_info_defaults_empty_and_stays_out_of_nbytes():
    a = Mesh(np.zeros((3, 3)), np.zeros((1, 3)))
    b = Mesh(np.zeros((3, 3)), np.zeros((1, 3)))
    assert a.info == {} and a.info is not b.info
    before = a.nbytes()
    a.info["status"] = "held"
    assert a.nbytes() == before and b.info == {}
