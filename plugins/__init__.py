"""facewarp.plugins."""
