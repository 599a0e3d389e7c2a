"""Nuke plugin (host glue): ``init.py`` and ``menu.py`` are what Nuke runs from a NUKE_PATH folder,
``logic`` holds the plain functions (no ``nuke`` import), ``glue`` builds nodes with Nuke's API.

Untested in a real Nuke: the tests run it against a fake ``nuke`` module (tests/plugins/fake_nuke.py).
Nothing here is imported at package import time, so ``import facewarp.plugins.nuke`` needs no Nuke."""
