"""Importing the two mediapipe solutions facewarp uses, and not the rest of mediapipe.

``import mediapipe`` runs three package ``__init__`` files that import every legacy solution
(hands, pose, holistic, objectron, ... with matplotlib.pyplot for the drawing helpers) and the
whole Tasks API: 0.21-0.25 s on the machines here, in every process that tracks or checks a
face. ``face_detection`` and ``face_mesh`` on their own take 0.03 s: they are imported under
partial packages (:mod:`facewarp.core.partial_import`), so a later ``import mediapipe`` in the
same process still gets the whole package.
"""

from __future__ import annotations

import os
import sys
import types

from facewarp.core.partial_import import import_submodules
from facewarp.core.quiet import quiet_native, verbose

PACKAGES = ("mediapipe", "mediapipe.python", "mediapipe.python.solutions")
SOLUTIONS = ("face_detection", "face_mesh")


def import_solutions() -> types.ModuleType:
    """``mediapipe.python.solutions`` with ``face_detection`` and ``face_mesh`` imported; the rest
    of mediapipe only if it was imported already. Native log lines are silenced unless
    ``facewarp --verbose``."""
    if not verbose():
        os.environ.setdefault("GLOG_minloglevel", "2")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with quiet_native():
        import_submodules(PACKAGES, tuple(f"{PACKAGES[-1]}.{name}" for name in SOLUTIONS))
    return sys.modules[PACKAGES[-1]]
