"""facewarp.presets."""
