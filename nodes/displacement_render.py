"""DisplacementRender (PWM, Zhong et al.): the per-vertex 2D displacement P(Ms) - P(Md)
rasterised over the DRIVING mesh (a backward map in target-image coordinates, per the
conventions), with a z-buffer, back-face culling, a coverage mask and the documented fill
outside the mesh; optionally a per-vertex attribute through the same rasteriser. The render is
``facewarp.warping.mesh.render_displacement``; its docstring states the deviations from the paper.
Not in the paper: the field is confined to the face region (``facewarp.warping.region``: the hull of
both meshes' projections grown by ``grow``), so that the fill fades to exactly zero there and the
plate outside is untouched; ``region: frame`` keeps the whole-frame fill."""

from __future__ import annotations

import numpy as np

from facewarp.core.errors import brief
from facewarp.graph import (
    Camera,
    Displacement,
    Image,
    Input,
    InputError,
    Mask,
    Mesh,
    Node,
    NodeSchema,
    Output,
    Param,
    RenderError,
    events,
)
from facewarp.nodes.triangle_warp import PASSED_THROUGH, REGION_PARAMS, guessed_status
from facewarp.warping.mesh import mesh_region, render_displacement, vertex_normals
from facewarp.warping.region import whole_frame


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
            Output("matte", "Mask", "the face region: 1 where the edit is at full strength, 0 where the field is "
                   "exactly zero"),
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
            *REGION_PARAMS,
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
                raise self.error(InputError, f"driving mesh has no attribute {brief(name)} (has: {known}; built-ins: "
                                 "vertex_id, depth, normals)", param="attribute")
        guessed = guessed_status(src, drv)
        if guessed and p["guessed"] == "error":
            raise self.error(RenderError, f"the face was not seen on this frame (tracking: {guessed}); set "
                             "guessed to warp or pass-through to render it", param="guessed", frame=ctx.frame)
        if guessed and p["guessed"] == "pass-through":
            events.count(PASSED_THROUGH)
            zero = np.zeros((h, w), np.float32)
            return {"displacement": Displacement(np.zeros((h, w, 2), np.float32), zero, border="clamp"),
                    "coverage": Mask(zero), "attribute": None, "matte": Mask(zero)}
        # the region depends on the points only: find it first, then render the field in its box
        # only, confined in the same pass (no full-frame raster; outside the box the field is 0)
        region = mesh_region(src, drv, w, h, camera=cam, grow=p["grow"], feather=p["feather"]) \
            if p["region"] == "face" else None
        field, coverage, extra = render_displacement(src, drv, w, h, camera=cam, cull=p["cull"], fill=p["fill"],
                                                     falloff=p["falloff"], attribute=attribute, device=ctx.device,
                                                     region=region)
        if region is None:
            region = whole_frame(w, h)
        att_img = None
        if extra is not None:
            k = extra.shape[2]
            chans = (name,) if k == 1 else tuple(f"{name}{i}" for i in range(k))
            att_img = Image(extra, chans, colorspace="data")
        return {"displacement": Displacement(field, coverage, border="clamp"), "coverage": Mask(coverage),
                "attribute": att_img, "matte": Mask(region.matte)}
