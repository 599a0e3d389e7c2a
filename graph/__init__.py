"""The facewarp engine: typed ports, node schemas, graphs, evaluation, presets."""

from .context import Context, parse_frames
from facewarp.core.errors import (FacewarpError, InputError, OutputExistsError, PresetError, RenderError, UsageError,
                     ValidationError)
from .evaluate import Evaluator
from .graph import Graph
from .node import Node
from .registry import create, get, node_types, register
from .schema import Input, NodeSchema, Output, Param
from facewarp.core.types import Camera, Displacement, FlameParams, Image, Landmarks, Mask, Mesh, Transform2D

__all__ = [
    "Camera", "Context", "Displacement", "Evaluator", "FacewarpError", "FlameParams", "Graph", "Image", "Input",
    "InputError", "Landmarks", "Mask", "Mesh", "Node", "NodeSchema", "Output", "OutputExistsError", "Param",
    "PresetError", "RenderError", "Transform2D", "UsageError", "ValidationError", "create", "get", "node_types",
    "parse_frames", "register",
]
