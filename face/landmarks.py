"""MediaPipe face-mesh landmark indices, named once for the whole project.

The tracker outputs 478 points: the 468 of the face mesh, then 10 iris points (468-472 the
subject's right iris, centre first; 473-477 the left). "Right"/"left" are the SUBJECT's: the
subject's right eye is on the image left. iBUG 68 is the 300-W annotation (0-based here; the
iBUG paper numbers its points 1..68), reached through ``IBUG68_FROM_MP478``.
"""

from __future__ import annotations

import numpy as np

N_POINTS = 478  # face mesh + irises
N_MESH_POINTS = 468  # the face mesh alone (the irises follow)
SCHEME_SIZES = {"mediapipe478": N_POINTS, "ibug68": 68}

RIGHT_IRIS = 468  # centre of the subject's right iris
LEFT_IRIS = 473
RIGHT_EYE_OUTER, RIGHT_EYE_INNER, LEFT_EYE_INNER, LEFT_EYE_OUTER = 33, 133, 362, 263
MOUTH_RIGHT, MOUTH_LEFT = 61, 291  # outer mouth corners (subject's right = image left)
UPPER_LIP_INNER, LOWER_LIP_INNER = 13, 14  # the inner-lip midpoints: their gap is the mouth opening
UPPER_LIP_OUTER, LOWER_LIP_OUTER = 0, 17
NOSE_TIP, CHIN, FOREHEAD = 1, 152, 10
FACE_RIGHT, FACE_LEFT = 234, 454  # face-oval points at the ears' height

RIGHT_EYE_CORNERS = (RIGHT_EYE_OUTER, RIGHT_EYE_INNER)
LEFT_EYE_CORNERS = (LEFT_EYE_INNER, LEFT_EYE_OUTER)
MOUTH_CORNERS = (MOUTH_RIGHT, MOUTH_LEFT)
INNER_MOUTH_CORNERS = (78, 308)

# Inner lip contour, in order around the mouth opening (upper lip 78 -> 308, lower lip back).
INNER_LIPS = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95)
INNER_LIPS_UPPER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
INNER_LIPS_LOWER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
# Whole lips (outer and inner contour points of each lip).
LIPS_UPPER = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
LIPS_LOWER = (146, 91, 181, 84, 17, 314, 405, 321, 375, 95, 88, 178, 87, 14, 317, 402, 318, 324)
# The face's symmetry line, forehead to chin.
MIDLINE = (10, 151, 9, 8, 168, 6, 197, 195, 5, 4, 1, 19, 94, 2, 164, 0, 11, 12, 13, 14, 15, 16, 17, 18,
           200, 199, 175, 152)
# Eyelid contours, corners and irises ("r" = subject's right = image left).
EYE = {
    "r": {"upper": (33, 246, 161, 160, 159, 158, 157, 173, 133), "lower": (33, 7, 163, 144, 145, 153, 154, 155, 133),
          "corners": (33, 133), "iris": (468, 469, 470, 471, 472)},
    "l": {"upper": (263, 466, 388, 387, 386, 385, 384, 398, 362), "lower": (263, 249, 390, 373, 374, 380, 381, 382, 362),
          "corners": (263, 362), "iris": (473, 474, 475, 476, 477)},
}
BROW = {"r": (46, 53, 52, 65, 55, 70, 63, 105, 66, 107), "l": (276, 283, 282, 295, 285, 300, 293, 334, 296, 336)}

# 478 -> 68 (iBUG 300-W) mapping. Index i of this table is iBUG point i. Jaw 0-16, brows 17-26,
# nose 27-35, eyes 36-47, mouth 48-67. "Left/right" in iBUG is the IMAGE side: point 0 is on the
# image left (subject's right). MediaPipe's face-oval contour is not the same curve as iBUG's
# jaw line (MediaPipe's oval runs higher on the temples); the chosen oval points are those
# nearest the iBUG jaw definition, so consumers that compare with dlib/iBUG jaw points should
# expect an offset of a few percent of face width on points 0-3 and 13-16.
IBUG68_FROM_MP478 = np.array([
    # jaw 0..16 (image left ear -> chin -> image right ear)
    162, 234, 93, 58, 172, 136, 149, 148, 152, 377, 378, 365, 397, 288, 323, 454, 389,
    # right brow (image left) 17..21, left brow 22..26
    71, 63, 105, 66, 107, 336, 296, 334, 293, 301,
    # nose bridge 27..30, nostrils 31..35
    168, 197, 5, 4, 75, 97, 2, 326, 305,
    # right eye (image left) 36..41: outer, upper x2, inner, lower x2
    33, 160, 158, 133, 153, 144,
    # left eye 42..47: inner, upper x2, outer, lower x2
    362, 385, 387, 263, 373, 380,
    # outer lips 48..59
    61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181,
    # inner lips 60..67
    78, 82, 13, 312, 308, 317, 14, 87,
], dtype=np.int64)
assert len(IBUG68_FROM_MP478) == 68

def to_ibug68(points: np.ndarray) -> np.ndarray:
    """478 MediaPipe points -> the 68 iBUG points."""
    return np.asarray(points)[IBUG68_FROM_MP478]
