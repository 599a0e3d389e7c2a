"""Pictures in and out: plate reading and writing through OpenImageIO (EXR, DPX, TIFF, PNG,
JPEG) in the working colour space, and the embedded demo plates. Usable without the graph."""
