"""facewarp.kernels."""
