"""Run the facewarp command line in a subprocess, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys


def facewarp(*args, cwd):
    proc = subprocess.run([sys.executable, "-m", "facewarp", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    return proc.returncode, proc.stdout, proc.stderr
