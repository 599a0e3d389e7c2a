"""DisplacementRender (PWM, Zhong et al.): rasterise the per-vertex 2D displacement
P(Ms) - P(Md) over the DRIVING mesh (so the field lives in target-image coordinates and
warps source pixels into place, a backward map per the conventions), with a z-buffer,
back-face culling and a coverage mask; optionally renders a per-vertex attribute (neural
codes, normals, vertex ids...) through the same rasteriser.

Outside the mesh the field is extrapolated (documented fill, ``kernels.fill``): push-pull of
the rendered field on a coarse grid, times a Gaussian falloff of the distance to the mesh,
so that a warp with it has no seam at the face border and returns to identity far away.
Deviation from the paper: attributes use screen-space barycentrics (the paper renders with a
standard, perspective-correct rasteriser); for a 2D displacement field the screen-space
affine interpolation is the natural one, and depth is still resolved exactly (``-1/z``)."""

from __future__ import annotations

import numpy as np

from facewarp.graph import Camera, Displacement, Image, Input, InputError, Mask, Mesh, Node, NodeSchema, Output, Param
from facewarp.kernels.fill import smooth_fill
from facewarp.kernels.raster import rasterize



def coarse_factor(width: int, height: int) -> int:
    """The fill is computed on a grid this many times coarser (8 at 4K, 1 for small frames)."""
    return int(np.clip(min(width, height) // 270, 1, 8))


def depth_keys(camera: Camera, z: np.ndarray) -> np.ndarray:
    """Per-vertex keys that interpolate linearly on screen (smaller = nearer)."""
    z = np.asarray(z, np.float64)
    if camera.kind == "pinhole":
        with np.errstate(divide="ignore"):
            return (-1.0 / z).astype(np.float32)
    return z.astype(np.float32)


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Unit per-vertex normals in camera space: area-weighted sums of the face normals
    ``(b - a) x (c - a)`` (towards the camera for front faces, see conventions)."""
    v = np.asarray(vertices, np.float64)
    f = np.asarray(faces, np.int64)
    fn = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    n = np.zeros_like(v)
    for k in range(3):
        np.add.at(n, f[:, k], fn)
    norm = np.linalg.norm(n, axis=1, keepdims=True)
    return (n / np.where(norm > 0, norm, 1.0)).astype(np.float32)


def render_displacement(source: Mesh, driving: Mesh, width: int, height: int, *, camera: Camera | None = None,
                        cull: str = "back", fill: str = "falloff", falloff: float = 0.0,
                        attribute: np.ndarray | None = None,
                        device: str = "auto"):
    """Returns (field H x W x 2, coverage H x W float32, attribute image H x W x K or None)."""
    cam_s = camera or source.camera
    cam_d = camera or driving.camera
    ps, _ = cam_s.project(source.vertices)
    pd, zd = cam_d.project(driving.vertices)
    if cam_d.kind == "pinhole":
        # no near-plane clipping: triangles touching a vertex at/behind the camera are dropped
        pd = np.where((zd > 0)[:, None], pd, np.nan).astype(np.float32)
    disp = (ps.astype(np.float64) - pd.astype(np.float64)).astype(np.float32)
    disp[~np.isfinite(disp)] = 0.0
    keys = depth_keys(cam_d, zd)
    attrs = disp
    if attribute is not None:
        attrs = np.concatenate([disp, np.asarray(attribute, np.float32).reshape(len(pd), -1)], 1)
    coarse = None
    if fill == "falloff":
        k = coarse_factor(width, height)
        cw, ch = max(1, -(-width // k)), max(1, -(-height // k))
        sx, sy = cw / width, ch / height
        rc = rasterize(pd * np.array([sx, sy], np.float32), driving.faces, cw, ch, attrs=disp, depth=keys,
                       cull=cull, device="cpu")
        sigma = falloff if falloff > 0 else 0.05 * float(np.hypot(width, height))
        coarse = smooth_fill(rc.values, rc.tri_id >= 0, sigma, 1.0 / sx)
    # one full-resolution pass: raster inside, up-sampled coarse fill outside
    r = rasterize(pd, driving.faces, width, height, attrs=attrs, depth=keys, cull=cull, device=device, fill=coarse,
                  ids=False)
    field = r.values if attribute is None else np.ascontiguousarray(r.values[..., :2])
    extra = np.ascontiguousarray(r.values[..., 2:]) if attribute is not None else None
    return field, r.coverage, extra


class DisplacementRender(Node):
    schema = NodeSchema(
        type="DisplacementRender",
        category="warp",
        doc="Rasterise P(source) - P(driving) per vertex over the driving mesh (z-buffer, back-face culling, "
            "top-left rule) into a backward Displacement in the driving frame; 'valid' is the coverage. Outside "
            "the mesh the field is push-pull extrapolated with a Gaussian falloff to zero (fill=falloff) or "
            "zero (fill=zero). Optionally renders a per-vertex attribute of the driving mesh (a name in "
            "Mesh.attributes, or the built-ins vertex_id, depth, normals) as an Image.",
        inputs=(
            Input("source", "Mesh", "source mesh (the pose of the picture to warp)"),
            Input("driving", "Mesh", "driving mesh, same topology"),
            Input("camera", "Camera", "camera for both meshes (default: each mesh's own)", optional=True),
            Input("reference", "Image", "gives the output size when width/height are 0", optional=True),
        ),
        outputs=(
            Output("displacement", "Displacement", "backward field in driving-frame pixels"),
            Output("coverage", "Mask", "1 where a front face of the driving mesh covers the pixel centre"),
            Output("attribute", "Image", "the rendered attribute (None when 'attribute' is empty)"),
        ),
        params=(
            Param("width", "int", 0, "output width (0: reference image, else camera image_size)", min=0, max=65536),
            Param("height", "int", 0, "output height (0: as width)", min=0, max=65536),
            Param("cull", "enum", "back", "face culling", choices=("back", "none", "front")),
            Param("fill", "enum", "falloff", "field outside the mesh", choices=("falloff", "zero")),
            Param("falloff", "float", 0.0, "Gaussian falloff sigma in pixels (0: 5% of the frame diagonal)",
                  min=0.0, max=1e6),
            Param("attribute", "string", "", "per-vertex attribute to render (Mesh.attributes key, vertex_id, "
                  "depth, normals); empty: none"),
        ),
    )

    def compute(self, ctx, inputs):
        p = self.param_values(ctx)
        src: Mesh = inputs["source"]
        drv: Mesh = inputs["driving"]
        cam: Camera | None = inputs.get("camera")
        ref: Image | None = inputs.get("reference")
        if src.vertices.shape != drv.vertices.shape or src.faces.shape != drv.faces.shape or \
                not np.array_equal(src.faces, drv.faces):
            raise self.error(InputError, f"source and driving meshes differ in topology ({len(src.vertices)} vs "
                             f"{len(drv.vertices)} vertices, {len(src.faces)} vs {len(drv.faces)} faces)",
                             port="driving")
        w, h = p["width"], p["height"]
        if w == 0 or h == 0:
            size = ref.size if ref is not None else (cam or drv.camera).image_size
            if size is None:
                raise self.error(InputError, "no output size: set width/height, connect 'reference' or give the "
                                 "camera an image_size", param="width")
            w, h = int(size[0]), int(size[1])
        name = p["attribute"]
        attribute = None
        if name:
            if name in drv.attributes:
                attribute = np.asarray(drv.attributes[name], np.float32).reshape(len(drv.vertices), -1)
            elif name == "vertex_id":
                attribute = np.arange(len(drv.vertices), dtype=np.float32)[:, None]
            elif name == "depth":
                attribute = (cam or drv.camera).project(drv.vertices)[1][:, None]
            elif name == "normals":
                attribute = vertex_normals(drv.vertices, drv.faces)
            else:
                known = ", ".join(sorted(drv.attributes)) or "none"
                raise self.error(InputError, f"driving mesh has no attribute {name!r} (has: {known}; built-ins: "
                                 "vertex_id, depth, normals)", param="attribute")
        field, coverage, extra = render_displacement(src, drv, w, h, camera=cam, cull=p["cull"], fill=p["fill"],
                                                     falloff=p["falloff"], attribute=attribute, device=ctx.device)
        att_img = None
        if extra is not None:
            k = extra.shape[2]
            chans = (name,) if k == 1 else tuple(f"{name}{i}" for i in range(k))
            att_img = Image(extra, chans, colorspace="data")
        return {"displacement": Displacement(field, coverage, border="clamp"), "coverage": Mask(coverage),
                "attribute": att_img}
