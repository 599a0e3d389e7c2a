"""facewarp for Blender: an extension (Blender 4.2+ extension format; tested with bpy 5.0.1).

This folder is both the extension (``blender_manifest.toml``; Blender imports it as
``bl_ext.<repo>.facewarp``) and the package ``facewarp.plugins.blender``. Its own modules are
imported relatively; the engine (``facewarp``) must be importable by Blender's Python, from
``$FACEWARP_SITE`` (a site-packages folder holding facewarp and its dependencies, for Blender's
Python 3.11) or already on the path. Nothing here imports ``bpy`` at import time: ``register()``
does, so ``import facewarp.plugins.blender`` needs no Blender. See README, "Blender"."""

from __future__ import annotations

import os
import site
import sys


def _engine_on_path() -> None:
    """Put $FACEWARP_SITE on the path when facewarp is not importable yet (a real Blender)."""
    folder = os.environ.get("FACEWARP_SITE")
    if folder and os.path.isdir(folder) and folder not in sys.path:
        site.addsitedir(folder)


def register() -> None:
    _engine_on_path()
    try:
        import facewarp  # noqa: F401  (the engine, not this extension)
    except ImportError as exc:
        raise ImportError("facewarp is not importable by Blender's Python: set FACEWARP_SITE to a site-packages "
                          "folder holding facewarp and its dependencies for Python "
                          f"{sys.version_info.major}.{sys.version_info.minor} (README, 'Blender')") from exc
    from . import ops

    ops.register()


def unregister() -> None:
    from . import ops

    ops.unregister()
