"""Warp geometry built on the kernels: the landmark-driven triangle warp (wg-GAN's global stage),
the per-landmark spread that normalises its displacement map, and the mesh-driven displacement
render (PWM). Plain functions on arrays; the TriangleWarp, LandmarkSpread and DisplacementRender
nodes call them, and so does the WgGAN training-pair builder."""
