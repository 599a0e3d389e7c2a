"""Importing mediapipe quietly and without ``matplotlib.pyplot``.

mediapipe's package imports all of its legacy solutions, and with them its drawing helpers, which
import ``matplotlib.pyplot``: 0.16 s of mediapipe's 0.38 s import (two thirds of it pyplot's own
module set-up), in every process that tracks or checks a face, for plotting functions facewarp
never calls. While mediapipe imports, :class:`DeferredModule` stands in for pyplot in
``sys.modules`` and imports the real one the first time anything on it is used; then it leaves
``sys.modules``, so a later ``import matplotlib.pyplot`` anywhere gets the real module.
"""

from __future__ import annotations

import importlib
import os
import sys
import types
from contextlib import contextmanager

from facewarp.core.quiet import quiet_native, verbose

PYPLOT = "matplotlib.pyplot"


class DeferredModule(types.ModuleType):
    """A module that is imported for real on first attribute access, and forwards to it."""

    def __getattr__(self, attr):
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        real = importlib.import_module(self.__name__)
        return getattr(real, attr)


@contextmanager
def deferred(name: str):
    """Inside the block, importing ``name`` (not yet imported) gives a :class:`DeferredModule`."""
    if name in sys.modules:
        yield
        return
    stand_in = DeferredModule(name)
    sys.modules[name] = stand_in
    try:
        yield
    finally:
        if sys.modules.get(name) is stand_in:
            del sys.modules[name]


def import_mediapipe():
    """The ``mediapipe`` module; its native log lines are silenced unless ``facewarp --verbose``."""
    if not verbose():
        os.environ.setdefault("GLOG_minloglevel", "2")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with quiet_native(), deferred(PYPLOT):
        import mediapipe

    return mediapipe
