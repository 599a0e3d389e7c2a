"""The facewarp engine: typed ports, node schemas, graphs, evaluation, presets."""

from facewarp.core.errors import (
    FacewarpError,
    InputError,
    OutputExistsError,
    PresetError,
    RenderCancelled,
    RenderError,
    UsageError,
    ValidationError,
)
from facewarp.core.types import Camera, Displacement, FlameParams, Image, Landmarks, Mask, Mesh, Transform2D

from .context import Context, parse_frames
from .evaluate import Evaluator
from .graph import Graph
from .node import Node
from .registry import create, get, node_types, register
from .render_loop import RenderPlan, RenderResult, frames_available, plan, render, resolve_output_root
from .schema import Input, NodeSchema, Output, Param

__all__ = [
    "Camera", "Context", "Displacement", "Evaluator", "FacewarpError", "FlameParams", "Graph", "Image", "Input",
    "InputError", "Landmarks", "Mask", "Mesh", "Node", "NodeSchema", "Output", "OutputExistsError", "Param",
    "PresetError", "RenderCancelled", "RenderError", "RenderPlan", "RenderResult", "Transform2D", "UsageError",
    "ValidationError", "create", "frames_available", "get", "node_types", "parse_frames", "plan", "register", "render",
    "resolve_output_root",
]
