"""Face models by name: the one place that reads ``$FACEWARP_FLAME`` / ``$FACEWARP_FLAME_EMBEDDING``.

A model spec is ``""``/``"default"`` (the embedded, project-authored model, see
``default_model``), a facewarp ``.npz`` (``facewarp convert-flame``) or a FLAME ``.pkl``. An empty
spec falls back to ``$FACEWARP_FLAME``, then to the default; an empty embedding to
``$FACEWARP_FLAME_EMBEDDING``. Loaded models stay in a small cache owned by
``facewarp.core.memory``, keyed by the file's identity, so an edited file is read again.
"""

from __future__ import annotations

import os
from pathlib import Path

from facewarp.core import memory
from facewarp.face import default_model
from facewarp.face.flame import FaceModel, ModelError, attach_embedding, load_embedding, load_flame_pkl, model_from_npz

_MODELS = memory.BoundedCache("face models", max_items=4)


def resolve(spec: str | None = None, embedding: str | None = None) -> tuple[str, str | None]:
    """The model and embedding a node or caller means: its own values, else the environment."""
    spec = (spec or os.environ.get("FACEWARP_FLAME", "") or "default").strip()
    return spec, (embedding or os.environ.get("FACEWARP_FLAME_EMBEDDING") or None)


def identity(spec: str | None = None, embedding: str | None = None) -> str:
    """What ``load_model(spec, embedding)`` reads, for hashes: the resolved names and the files'
    modification times and sizes."""
    spec, embedding = resolve(spec, embedding)
    parts = [f"model={spec}", f"embedding={embedding or ''}"]
    files = [default_model.DATA_PATH if spec == "default" else Path(spec).expanduser()]
    if embedding:
        files.append(Path(embedding).expanduser())
    for f in files:
        if f.exists():
            st = f.stat()
            parts.append(f"{f}:{st.st_mtime_ns}:{st.st_size}")
    return "|".join(parts)


def load_model(spec: str | None = None, embedding: str | None = None) -> FaceModel:
    """The model named by ``spec`` (see the module docstring), from the cache when unchanged."""
    spec, embedding = resolve(spec, embedding)
    if spec == "default":
        return _MODELS.get_or_load(identity(spec), default_model.load_default_model)
    path = Path(spec).expanduser()
    if not path.exists():
        raise ModelError(f"face model '{path}' not found (set the node's model parameter or FACEWARP_FLAME; "
                         "FLAME is downloaded from https://flame.is.tue.mpg.de after accepting its license)")
    return _MODELS.get_or_load(identity(spec, embedding), lambda: _load_file(path, embedding))


def _load_file(path: Path, embedding: str | None) -> FaceModel:
    if path.suffix == ".npz":
        m = model_from_npz(path)
        if embedding:
            attach_embedding(m, load_embedding(embedding))
    elif path.suffix == ".pkl":
        m = load_flame_pkl(path, embedding)
    else:
        raise ModelError(f"face model '{path}': expected a FLAME .pkl or a facewarp .npz")
    if len(m.lmk_faces) == 0:
        raise ModelError(f"face model '{path}' has no landmark embedding: give one (a MediaPipe->FLAME .npz or "
                         "DECA's 68-point landmark_embedding.npy) with the node's embedding parameter, "
                         "FACEWARP_FLAME_EMBEDDING or convert_flame(..., embedding=)")
    return m


def model_files(spec: str | None, embedding: str | None, *, own_only: bool = False) -> list[str]:
    """The files ``load_model(spec, embedding)`` reads (none for the embedded default).
    ``own_only``: only what ``spec``/``embedding`` name themselves, not the environment's
    ($FACEWARP_FLAME, $FACEWARP_FLAME_EMBEDDING)."""
    if own_only:
        files = [spec] if spec and spec.strip() != "default" else []
        return files + ([embedding] if embedding else [])
    spec, embedding = resolve(spec or None, embedding or None)
    files = [] if spec == "default" else [os.path.expanduser(spec)]
    return files + ([os.path.expanduser(embedding)] if embedding else [])
