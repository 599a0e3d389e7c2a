"""Makes docs/reenact_contact_sheet.jpg: a reenact.yaml render of a driving movie onto a target still,
at the target's full resolution - per row: target, driving frame (scaled to the target's height),
output, and the mouth of the target and of the output at 2x.

    facewarp run reenact --set driving=D.mpg --set target=T.jpg --frames 1001-1075   # writes out/
    python docs/reenact_sheet.py T.jpg D.mpg out/reenact.####.exr 1004,1012,1023,1028 docs/reenact_contact_sheet.jpg
"""

from __future__ import annotations

import sys

import av
import cv2
import numpy as np

from facewarp.core.color import linear_to_srgb
from facewarp.core.frames import frame_path
from facewarp.face.mouth import box_around, contours
from facewarp.face.tracking import track_frame
from facewarp.imaging.plates import read_plate


def _display(lin: np.ndarray) -> np.ndarray:
    return np.round(np.clip(linear_to_srgb(np.clip(lin, 0, 1)), 0, 1) * 255).astype(np.uint8)


def main(target_path, movie_path, pattern, frames, out_path, first=1001):
    target = cv2.cvtColor(cv2.imread(target_path), cv2.COLOR_BGR2RGB)
    h, w = target.shape[:2]
    with av.open(movie_path) as c:
        movie = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    pts = track_frame(target.astype(np.float32) / 255.0, linear=False).points
    _, outer, _ = contours(pts)
    x0, y0, x1, y1 = box_around(outer, w, h, pad=int(0.3 * (outer[:, 0].max() - outer[:, 0].min())))
    rows = []
    for f in frames:
        out = _display(read_plate(frame_path(pattern, f), channels="R,G,B").pixels)
        drv = movie[f - first]
        drv = cv2.resize(drv, (round(drv.shape[1] * h / drv.shape[0]), h), interpolation=cv2.INTER_CUBIC)
        mouths = [cv2.resize(a[y0:y1, x0:x1], (h * (x1 - x0) // (2 * (y1 - y0)) * 2 // 2, h // 2),
                             interpolation=cv2.INTER_CUBIC) for a in (target, out)]
        rows.append(np.concatenate([target, drv, out, np.concatenate(mouths, 0)], 1))
    sheet = np.concatenate([r[:, : min(r.shape[1] for r in rows)] for r in rows], 0)
    cv2.imwrite(out_path, cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 88])
    print(out_path, sheet.shape)


if __name__ == "__main__":
    t, m, p, fr, o = sys.argv[1:6]
    main(t, m, p, [int(x) for x in fr.split(",")], o)
