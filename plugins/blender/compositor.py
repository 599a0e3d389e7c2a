"""Blender data for facewarp results: image sequences loaded as Image datablocks, the compositor
node group that applies a facewarp STMap with the Map UV node, and the scene compositor wiring.

Map UV and facewarp's STMap use the same convention (checked in bpy 5.0.1 against facewarp's own
bilinear sampler, tests/plugins/test_blender.py): UV in [0, 1], origin at the bottom-left corner,
a pixel centre at ``(j + 0.5) / W`` — so the group passes u and v through unchanged. Map UV
multiplies its result by the UV vector's third component (Blender's coverage), so the group sets
it to 1; facewarp's ``clamp`` border is Map UV's ``Extend``, sampling is ``Bilinear``.

Written for Blender 5.0 (``scene.compositing_node_group``, menu sockets on Map UV); the Blender 4.2-4.5
branches (``scene.node_tree``, ``filter_type``) follow the 4.x API and are not tested here."""

from __future__ import annotations

import os

import bpy

from facewarp.core.frames import has_token

from . import logic

GROUP_NAME = "facewarp STMap"
PLATE_IMAGE = "facewarp plate"
KEY_PATTERN, KEY_KIND, KEY_FIRST, KEY_LAST = "facewarp_pattern", "facewarp_kind", "facewarp_first", "facewarp_last"


def _new_node(tree, *types: str):
    """A node of the first type this Blender knows (node type names moved between 4.x and 5.0)."""
    for kind in types:
        try:
            return tree.nodes.new(kind)
        except RuntimeError:
            continue
    raise RuntimeError(f"this Blender has none of the node types {', '.join(types)}")


def _socket(tree, name: str, in_out: str, socket_type: str):
    for item in tree.interface.items_tree:
        if getattr(item, "item_type", "SOCKET") == "SOCKET" and item.in_out == in_out and item.name == name:
            return item
    return tree.interface.new_socket(name, in_out=in_out, socket_type=socket_type)


def _set_menu(node, socket: str, value: str, prop: str | None = None, prop_value: str | None = None) -> None:
    """A Map UV option: a menu socket in Blender 5.0, a node property in 4.x."""
    if socket in node.inputs:
        node.inputs[socket].default_value = value
    elif prop and hasattr(node, prop):
        setattr(node, prop, prop_value or value.upper())


# -- the STMap group ----------------------------------------------------------------------
def stmap_group(border: str = "clamp"):
    """The compositor node group ``facewarp STMap`` (or ``facewarp STMap (zero)``): inputs
    ``Image`` (the plate) and ``STMap`` (a vector: u, v; wire an STMap EXR's ``forward`` pass, or
    its ``Image`` when it holds R/G), output ``Image``: the plate warped as facewarp warps it.
    Built once per border mode and reused."""
    if border not in logic.EXTENSIONS:
        raise ValueError(f"Map UV has an equivalent of facewarp's border {', '.join(logic.EXTENSIONS)} only "
                         f"(its extensions: Clip, Extend, Repeat), not {border!r}")
    name = GROUP_NAME if border == "clamp" else f"{GROUP_NAME} ({border})"
    group = bpy.data.node_groups.get(name)
    if group is not None and group.bl_idname == "CompositorNodeTree":
        return group
    group = bpy.data.node_groups.new(name, "CompositorNodeTree")
    if hasattr(group, "description"):
        group.description = ("facewarp STMap (u = x/W, v = 1 - y/H, origin bottom-left) applied with Map UV, "
                             f"bilinear, border {border}")
    _socket(group, "Image", "INPUT", "NodeSocketColor")
    stmap = _socket(group, "STMap", "INPUT", "NodeSocketVector")
    stmap.description = "u, v of a facewarp STMap (its 'forward' pass, or R, G)"
    _socket(group, "Image", "OUTPUT", "NodeSocketColor")
    nodes, links = group.nodes, group.links
    gin = nodes.new("NodeGroupInput")
    gout = nodes.new("NodeGroupOutput")
    sep = _new_node(group, "ShaderNodeSeparateXYZ", "CompositorNodeSeparateXYZ")
    comb = _new_node(group, "ShaderNodeCombineXYZ", "CompositorNodeCombineXYZ")
    comb.inputs[2].default_value = 1.0  # Map UV's coverage: the whole STMap is covered
    mapuv = nodes.new("CompositorNodeMapUV")
    mapuv.name = mapuv.label = "Map UV"
    _set_menu(mapuv, "Interpolation", "Bilinear", "filter_type", "BILINEAR")
    extension = logic.EXTENSIONS[border]
    _set_menu(mapuv, "Extension X", extension)
    _set_menu(mapuv, "Extension Y", extension)
    links.new(gin.outputs["STMap"], sep.inputs[0])
    links.new(sep.outputs[0], comb.inputs[0])
    links.new(sep.outputs[1], comb.inputs[1])
    links.new(gin.outputs["Image"], mapuv.inputs["Image"])
    links.new(comb.outputs[0], mapuv.inputs["UV"])
    links.new(mapuv.outputs[0], gout.inputs["Image"])
    for i, node in enumerate((gin, sep, comb, mapuv, gout)):
        node.location = (i * 200.0, 0.0)
    return group


def color_output(image_node):
    """An Image node's colour output: ``Image`` for a plain EXR, ``Combined`` (the layer-less
    R, G, B, A) for a multilayer one (facewarp writes extra layers such as ``matte.A``)."""
    for name in ("Image", "Combined"):
        if name in image_node.outputs:
            return image_node.outputs[name]
    return image_node.outputs[0]


def stmap_output(image_node):
    """The output of an Image node that holds an STMap's u, v: the ``forward`` pass of a
    multilayer EXR (facewarp's default channels forward.u/forward.v), else ``Image`` (R, G)."""
    return image_node.outputs["forward"] if "forward" in image_node.outputs else color_output(image_node)


# -- the scene compositor -----------------------------------------------------------------
def compositor_tree(scene, create: bool = True):
    """The scene's compositor node tree: ``scene.compositing_node_group`` in Blender 5.0 (created,
    with an ``Image`` output, when missing), ``scene.node_tree`` in 4.x."""
    if hasattr(scene, "compositing_node_group"):
        tree = scene.compositing_node_group
        if tree is None and create:
            tree = bpy.data.node_groups.new(f"{scene.name} compositor", "CompositorNodeTree")
            scene.compositing_node_group = tree
        if tree is not None:
            _socket(tree, "Image", "OUTPUT", "NodeSocketColor")
        return tree
    if create:
        scene.use_nodes = True
    return scene.node_tree


def _output_node(tree):
    for node in tree.nodes:
        if node.bl_idname in ("NodeGroupOutput", "CompositorNodeComposite"):
            return node
    return _new_node(tree, "NodeGroupOutput", "CompositorNodeComposite")


def image_node(tree, image, name: str):
    """An Image node (named ``name``, reused) showing ``image``; a sequence plays its file frames
    on the same scene frames (file 1001 at scene frame 1001)."""
    node = tree.nodes.get(name) or tree.nodes.new("CompositorNodeImage")
    node.name = node.label = name
    node.image = image
    if image.source == "SEQUENCE" and KEY_FIRST in image:
        first, last = int(image[KEY_FIRST]), int(image[KEY_LAST])
        node.frame_start = first  # image user: file frame = scene frame - start + 1 + offset
        node.frame_offset = first - 1
        node.frame_duration = last - first + 1
    return node


def setup_compositor(scene, images: list, plate=None) -> dict[str, object]:
    """Wire the loaded results into the scene compositor: an Image node per result, the first
    image result into the output; with a plate and an STMap, plate -> ``facewarp STMap`` group
    (STMap from the file) -> a Viewer, to compare with facewarp's render. Returns the nodes by name."""
    tree = compositor_tree(scene)
    out = _output_node(tree)
    made: dict[str, object] = {}
    for i, image in enumerate(images):
        node = image_node(tree, image, f"facewarp {image.get(KEY_KIND, 'image')} {i}")
        node.location = (-600.0, -300.0 * i)
        made[node.name] = node
    renders = [n for n in made.values() if n.image.get(KEY_KIND) == "image"]
    if renders:
        tree.links.new(color_output(renders[0]), out.inputs[0])
    stmaps = [n for n in made.values() if n.image.get(KEY_KIND) == "stmap"]
    if plate is not None and stmaps:
        src = image_node(tree, plate, PLATE_IMAGE)
        src.location = (-600.0, 300.0)
        group = tree.nodes.get("facewarp STMap") or tree.nodes.new("CompositorNodeGroup")
        group.name = group.label = "facewarp STMap"
        group.node_tree = stmap_group()
        group.location = (-300.0, 300.0)
        tree.links.new(color_output(src), group.inputs["Image"])
        tree.links.new(stmap_output(stmaps[0]), group.inputs["STMap"])
        viewer = tree.nodes.get("facewarp viewer") or tree.nodes.new("CompositorNodeViewer")
        viewer.name = viewer.label = "facewarp viewer"
        viewer.location = (0.0, 300.0)
        tree.links.new(group.outputs["Image"], viewer.inputs["Image"])
        made.update({src.name: src, group.name: group, viewer.name: viewer})
    return made


# -- loading sequences --------------------------------------------------------------------
def find_image(pattern: str):
    """The Image datablock this extension loaded for a facewarp pattern, or None."""
    return next((im for im in bpy.data.images if im.get(KEY_PATTERN) == pattern), None)


def load_sequence(seq: logic.OutputSequence, frames) -> object:
    """An Image datablock for a sequence facewarp wrote (reused and reloaded when the same
    pattern was loaded before): renders in scene-linear Rec.709, STMaps and offsets as raw
    data; the pattern, kind and frame range are kept as custom properties."""
    frames = sorted(int(f) for f in frames)
    first = frames[0]
    path = seq.path(first)
    image = find_image(seq.pattern)
    if image is None:
        image = bpy.data.images.load(path, check_existing=False)
        image.name = os.path.basename(seq.pattern)  # e.g. reanimate.####.exr
    else:
        image.filepath = path
    image.source = "SEQUENCE" if has_token(seq.pattern) else "FILE"
    if seq.kind == "image":
        image.colorspace_settings.name = logic.LINEAR_COLORSPACE
    else:
        image.colorspace_settings.name = logic.DATA_COLORSPACE
        image.alpha_mode = "CHANNEL_PACKED"  # u, v are not premultiplied by the validity in A
    image[KEY_PATTERN], image[KEY_KIND], image[KEY_FIRST], image[KEY_LAST] = seq.pattern, seq.kind, first, frames[-1]
    image.reload()
    return image


def load_plate(pattern: str, frames):
    """The plate sequence as an Image datablock, for the STMap group."""
    return load_sequence(logic.OutputSequence("plate", os.path.abspath(pattern), "image"), frames)
