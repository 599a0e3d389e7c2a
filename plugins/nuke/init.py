"""facewarp for Nuke, startup part: Nuke runs this ``init.py`` of every NUKE_PATH folder in every
session (GUI, ``nuke -t``, render-only), so it only puts facewarp on the Python path: no UI, no
menus, no PySide. Menus are in ``menu.py`` (GUI sessions only).

- The folder holding the ``facewarp`` package (this file is facewarp/plugins/nuke/init.py) goes on
  ``sys.path``, so ``import facewarp`` works from an installed copy.
- ``$FACEWARP_SITE`` (optional; ``os.pathsep``-separated): site-packages folders of the environment
  facewarp and its dependencies are installed in; added with ``site.addsitedir`` so their ``.pth``
  files (an editable install's among them) apply.

Untested in a real Nuke: the tests run it against a fake ``nuke`` module.
"""

import os
import site
import sys

import nuke


def _facewarp_plugin_folder():
    """This folder. Nuke may run the file without ``__file__``: then the NUKE_PATH entry holding it."""
    here = globals().get("__file__")
    if here:
        return os.path.dirname(os.path.abspath(here))
    for folder in nuke.pluginPath():
        folder = os.path.abspath(folder)
        if os.path.isfile(os.path.join(folder, "glue.py")) and os.path.basename(os.path.dirname(folder)) == "plugins":
            return folder
    return None


def _add_facewarp_to_path():
    for entry in os.environ.get("FACEWARP_SITE", "").split(os.pathsep):
        if entry and os.path.isdir(entry) and entry not in sys.path:
            site.addsitedir(entry)
    folder = _facewarp_plugin_folder()
    if folder is None:
        return
    package = os.path.dirname(os.path.dirname(folder))  # .../facewarp (plugins/nuke -> plugins -> package)
    if os.path.basename(package) == "facewarp":
        parent = os.path.dirname(package)
        if parent not in sys.path:
            sys.path.append(parent)


_add_facewarp_to_path()
