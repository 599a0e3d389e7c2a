"""facewarp: node-graph face reanimation for 4K VFX plates.

The repository root is this package: ``facewarp.graph`` (engine), ``facewarp.nodes`` (node
types), ``facewarp.kernels`` (CPU/CUDA primitives), ``facewarp.plugins`` (host glue) and
``facewarp.presets`` (YAML pipelines).
"""

__version__ = "0.1.0"
