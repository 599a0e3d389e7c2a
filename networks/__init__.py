"""The refinement networks of the warp-guided GAN (Geng et al. 2018): WgGAN and HrhGAN
architectures, safetensors checkpoints, inference (torch and onnxruntime) and ONNX export,
training and the per-shot training pairs. Imports torch; usable without the graph."""
