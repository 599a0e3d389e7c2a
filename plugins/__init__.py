"""Host integration (Nuke, Blender): glue that calls the render API (``facewarp.graph.render``)
and the libraries. It may import any facewarp package; nothing imports it."""
