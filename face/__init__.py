"""Faces: MediaPipe tracking and the named landmark indices, the embedded face model and FLAME
loading, model lookup, the FLAME fitter and face-crop geometry. Plain functions on arrays;
usable without the graph (the face nodes call them)."""
