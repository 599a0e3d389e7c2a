"""What every facewarp package shares and nothing else: the data types that flow between nodes,
the conventions (pixel centres, displacements, orientation, colour, units), errors with their exit
codes, colour transfer curves, frame tokens, atomic file output and the owner of cached memory.
It imports no other facewarp package."""
