"""Typed values that flow along graph connections.

A port declares one of these classes as its type; the graph refuses connections between
different types. Conventions (pixel centres, displacement direction, colour, camera axes)
are defined once in :mod:`facewarp.core.conventions`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import numpy as np

from facewarp.core.conventions import BORDER_MODES, WORKING_COLORSPACE


def _as_f32(a, ndim: int, what: str) -> np.ndarray:
    arr = np.asarray(a, dtype=np.float32)
    if arr.ndim != ndim:
        raise ValueError(f"{what} must have {ndim} dimensions, got shape {arr.shape}")
    return arr


@dataclass
class Image:
    """float32 H x W x C pixels, scene-linear (``colorspace``), named channels, metadata."""

    pixels: np.ndarray
    channels: tuple[str, ...] = ("R", "G", "B")
    colorspace: str = WORKING_COLORSPACE
    metadata: dict[str, Any] = field(default_factory=dict)

    type_name: ClassVar[str] = "Image"

    def __post_init__(self):
        px = np.asarray(self.pixels)
        if px.ndim == 2:
            px = px[..., None]
        if px.ndim != 3:
            raise ValueError(f"Image pixels must be H x W x C, got shape {px.shape}")
        if px.dtype != np.float32:
            px = px.astype(np.float32)
        self.pixels = px
        self.channels = tuple(self.channels)
        if len(self.channels) != px.shape[2]:
            raise ValueError(f"Image has {px.shape[2]} channels but {len(self.channels)} names {self.channels}")

    @property
    def height(self) -> int:
        return self.pixels.shape[0]

    @property
    def width(self) -> int:
        return self.pixels.shape[1]

    @property
    def size(self) -> tuple[int, int]:
        """(width, height), the order VFX tools print."""
        return self.width, self.height

    def channel(self, name: str) -> np.ndarray:
        return self.pixels[..., self.channels.index(name)]

    def with_pixels(self, pixels: np.ndarray, channels: tuple[str, ...] | None = None) -> Image:
        return replace(self, pixels=pixels, channels=self.channels if channels is None else channels,
                       metadata=dict(self.metadata))

    def nbytes(self) -> int:
        return int(self.pixels.nbytes)


@dataclass
class Landmarks:
    """N x 2 continuous pixel coordinates, per-point confidence, the scheme that names them."""

    points: np.ndarray
    confidence: np.ndarray | None = None
    scheme: str = "mediapipe478"
    image_size: tuple[int, int] | None = None  # (width, height) of the image they belong to
    found: bool = True  # the points are usable (tracked, or interpolated/held: see info["status"]); False: a fill
    info: dict[str, Any] = field(default_factory=dict)  # optional per-frame report (e.g. status, score)

    type_name: ClassVar[str] = "Landmarks"

    def __post_init__(self):
        self.points = _as_f32(self.points, 2, "Landmarks.points")
        if self.points.shape[1] != 2:
            raise ValueError(f"Landmarks.points must be N x 2, got {self.points.shape}")
        if self.confidence is None:
            self.confidence = np.ones(len(self.points), np.float32)
        self.confidence = _as_f32(self.confidence, 1, "Landmarks.confidence")
        if len(self.confidence) != len(self.points):
            raise ValueError("Landmarks.confidence must have one value per point")

    def nbytes(self) -> int:
        return int(self.points.nbytes + self.confidence.nbytes)

    def in_pixels(self, width: int, height: int) -> np.ndarray:
        """The points (float64) in pixels of a ``width`` x ``height`` image: scaled from
        ``image_size`` when they belong to a picture of another size (a proxy, a crop's source)."""
        pts = self.points.astype(np.float64)
        if self.image_size is not None and tuple(self.image_size) != (width, height):
            pts = pts * np.array([width / self.image_size[0], height / self.image_size[1]])
        return pts


@dataclass
class Camera:
    """Projection from camera space to continuous pixel coordinates (see conventions)."""

    kind: str = "weak_perspective"  # or "pinhole"
    # pinhole: fx, fy, cx, cy. weak_perspective: s, tx, ty.
    params: tuple[float, ...] = (1.0, 0.0, 0.0)
    image_size: tuple[int, int] | None = None

    type_name: ClassVar[str] = "Camera"

    def project(self, vertices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Returns (N x 2 pixel coordinates, N depths; larger depth = farther)."""
        v = np.asarray(vertices, dtype=np.float64)
        if self.kind == "pinhole":
            fx, fy, cx, cy = self.params
            z = v[:, 2]
            uv = np.stack([fx * v[:, 0] / z + cx, fy * v[:, 1] / z + cy], axis=1)
            return uv.astype(np.float32), z.astype(np.float32)
        if self.kind == "weak_perspective":
            s, tx, ty = self.params
            uv = np.stack([s * v[:, 0] + tx, s * v[:, 1] + ty], axis=1)
            return uv.astype(np.float32), v[:, 2].astype(np.float32)
        raise ValueError(f"unknown camera kind {self.kind!r} (expected pinhole or weak_perspective)")


@dataclass
class Mesh:
    """Triangle mesh in camera space (OpenCV axes) with the camera that images it."""

    vertices: np.ndarray  # V x 3 float32
    faces: np.ndarray  # F x 3 int32, front faces counter-clockwise on screen
    camera: Camera = field(default_factory=Camera)
    attributes: dict[str, np.ndarray] = field(default_factory=dict)  # per-vertex V x K arrays
    # Optional per-frame report, as Landmarks.info (e.g. the tracking status); not in nbytes
    # (small), and like ``attributes`` compared by ``==``.
    info: dict[str, Any] = field(default_factory=dict)

    type_name: ClassVar[str] = "Mesh"

    def __post_init__(self):
        self.vertices = _as_f32(self.vertices, 2, "Mesh.vertices")
        self.faces = np.asarray(self.faces, dtype=np.int32)
        if self.vertices.shape[1] != 3 or self.faces.ndim != 2 or self.faces.shape[1] != 3:
            raise ValueError(f"Mesh needs V x 3 vertices and F x 3 faces, got {self.vertices.shape}, {self.faces.shape}")

    def project(self) -> tuple[np.ndarray, np.ndarray]:
        return self.camera.project(self.vertices)

    def nbytes(self) -> int:
        return int(self.vertices.nbytes + self.faces.nbytes + sum(a.nbytes for a in self.attributes.values()))


@dataclass
class FlameParams:
    """Parameters of a FLAME-format morphable model fit (one frame)."""

    shape: np.ndarray
    expression: np.ndarray
    pose: dict[str, np.ndarray] = field(default_factory=dict)  # global, neck, jaw, eyes: axis-angle
    translation: np.ndarray = field(default_factory=lambda: np.zeros(3, np.float32))
    camera: Camera = field(default_factory=Camera)
    model: str = "default"
    info: dict[str, Any] = field(default_factory=dict)  # optional per-frame report (e.g. reprojection error)

    type_name: ClassVar[str] = "FlameParams"

    def nbytes(self) -> int:
        return int(self.shape.nbytes + self.expression.nbytes + sum(np.asarray(p).nbytes for p in self.pose.values()))


@dataclass
class Displacement:
    """Backward displacement field in pixels, H x W x 2, plus validity (see conventions)."""

    field: np.ndarray
    valid: np.ndarray | None = None  # H x W float32 in [0, 1]
    border: str = "clamp"

    type_name: ClassVar[str] = "Displacement"

    def __post_init__(self):
        self.field = _as_f32(self.field, 3, "Displacement.field")
        if self.field.shape[2] != 2:
            raise ValueError(f"Displacement.field must be H x W x 2, got {self.field.shape}")
        if self.valid is None:
            self.valid = np.ones(self.field.shape[:2], np.float32)
        self.valid = _as_f32(self.valid, 2, "Displacement.valid")
        if self.border not in BORDER_MODES:
            raise ValueError(f"Displacement.border must be one of {BORDER_MODES}, got {self.border!r}")

    @property
    def size(self) -> tuple[int, int]:
        return self.field.shape[1], self.field.shape[0]

    def nbytes(self) -> int:
        return int(self.field.nbytes + self.valid.nbytes)


@dataclass
class Mask:
    """H x W float32 matte in [0, 1]."""

    alpha: np.ndarray

    type_name: ClassVar[str] = "Mask"

    def __post_init__(self):
        self.alpha = _as_f32(self.alpha, 2, "Mask.alpha")

    def nbytes(self) -> int:
        return int(self.alpha.nbytes)


@dataclass
class Transform2D:
    """A 2 x 3 affine map from plate pixels to crop pixels (continuous coordinates)."""

    matrix: np.ndarray
    crop_size: tuple[int, int]  # (width, height) of the crop
    plate_size: tuple[int, int]  # (width, height) of the plate

    type_name: ClassVar[str] = "Transform2D"

    def nbytes(self) -> int:
        return 48


PORT_TYPES: dict[str, type] = {
    t.type_name: t for t in (Image, Landmarks, Mesh, Camera, FlameParams, Displacement, Mask, Transform2D)
}


def nbytes_of(value: Any) -> int:
    """Approximate memory held by a value, for the cache's byte limit."""
    if hasattr(value, "nbytes"):
        nb = value.nbytes
        return int(nb() if callable(nb) else nb)
    if isinstance(value, dict):
        return sum(nbytes_of(v) for v in value.values()) + 64
    if isinstance(value, (list, tuple)):
        return sum(nbytes_of(v) for v in value) + 64
    return 64
