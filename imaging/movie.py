"""H.264 movies of display-referred frames, through PyAV (FFmpeg's libx264, bundled in the wheel).

``write_mp4`` takes uint8 sRGB frames (H x W x 3, as :func:`facewarp.imaging.contact_sheet.display_tile`
makes them) and writes an MP4 with H.264 in yuv420p, the profile every player decodes; the file is
written to a temp name beside the target and renamed into place (see :mod:`facewarp.core.files`).
"""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction

import numpy as np

from facewarp.core.files import atomic_output

CODEC = "libx264"


def _even(frame: np.ndarray) -> np.ndarray:
    """yuv420p needs even sizes: an odd width/height gets one more column/row (edge repeated)."""
    h, w = frame.shape[:2]
    if h % 2 == 0 and w % 2 == 0:
        return frame
    return np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")


def write_mp4(frames: Iterable[np.ndarray], path: str, fps: float = 24.0, *, crf: int = 18,
              overwrite: bool = False, keyframe_interval: int | None = None, faststart: bool = False) -> int:
    """Encode uint8 RGB ``frames`` (all one size) as H.264/yuv420p in an MP4 at ``path``; returns
    the number of frames written. ``crf`` is x264's quality (0 lossless-ish luma, 18 visually
    transparent, 23 its default). Odd sizes are padded to even by repeating the last row/column.
    ``keyframe_interval`` caps the frames between keyframes (x264's default: 250);
    ``faststart`` puts the index (moov) before the pictures, as streaming players want."""
    import av

    rate = Fraction(fps).limit_denominator(1001)
    count = 0
    with atomic_output(path, overwrite) as tmp:
        options = {"movflags": "faststart"} if faststart else {}
        with av.open(tmp, mode="w", format="mp4", options=options) as container:
            stream = None
            size = None
            for frame in frames:
                frame = np.asarray(frame)
                if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
                    raise ValueError(f"write_mp4 wants uint8 H x W x 3 frames, got {frame.dtype} {frame.shape}")
                frame = _even(frame)
                if stream is None:
                    size = frame.shape[:2]
                    stream = container.add_stream(CODEC, rate=rate)
                    stream.width, stream.height = size[1], size[0]
                    stream.pix_fmt = "yuv420p"
                    stream.options = {"crf": str(int(crf)), "preset": "medium"}
                    if keyframe_interval:
                        stream.codec_context.gop_size = int(keyframe_interval)
                elif frame.shape[:2] != size:
                    raise ValueError(f"frame {count}: size {frame.shape[1]}x{frame.shape[0]} differs from the "
                                     f"first frame's {size[1]}x{size[0]}")
                video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
                for packet in stream.encode(video_frame):
                    container.mux(packet)
                count += 1
            if stream is None:
                raise ValueError("write_mp4 needs at least one frame")
            for packet in stream.encode():  # flush the encoder's delayed frames
                container.mux(packet)
    return count


def read_mp4(path: str) -> tuple[list[np.ndarray], str]:
    """Decode every frame of a movie as uint8 RGB; returns (frames, codec name)."""
    import av

    with av.open(path) as container:
        stream = container.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
        return frames, stream.codec_context.name
