"""A checkpoint torch refuses to load weights-only is one clean line: the file, why, and what to
use instead; no ANSI codes, no torch paragraphs cut mid-sentence, no stray torch warning."""

from __future__ import annotations

import os
import pickle
import warnings

import numpy as np
import pytest
import torch

from facewarp.networks.checkpoint import CheckpointError, load_checkpoint

ADVICE = "use a .safetensors checkpoint, an ONNX export or a weights-only torch state dict of tensors"


class _Payload:
    def __reduce__(self):
        return (os.getcwd, ())


def _refusal(path) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch's pickle-protocol UserWarning must not escape
        with pytest.raises(CheckpointError) as info:
            load_checkpoint(path)
    return str(info.value)


def test_numpy_pickle_message_is_one_clean_line(tmp_path):
    path = tmp_path / "numpy.pt"
    torch.save({"w": np.zeros(3)}, path)  # torch's refusal carries \x1b[1m ... \x1b[0m
    text = _refusal(path)
    assert text == ("numpy.pt refused, not a safe checkpoint format: a pickle that would import and run "
                    f"numpy.core.multiarray._reconstruct; {ADVICE}")


def test_code_payload_and_plain_pickle_name_why(tmp_path):
    path = tmp_path / "payload.pt"
    torch.save({"w": torch.zeros(1), "p": _Payload()}, path)
    assert _refusal(path) == (f"payload.pt refused, not a safe checkpoint format: a pickle that would import and "
                              f"run posix.getcwd; {ADVICE}")
    plain = tmp_path / "plain.pt"
    plain.write_bytes(pickle.dumps(_Payload()))
    text = _refusal(plain)
    assert text.startswith("plain.pt refused, not a safe checkpoint format: a pickle a weights-only load rejects")
    assert text.endswith(ADVICE) and "\n" not in text and "\x1b" not in text and "https://" not in text


def test_not_a_checkpoint_at_all(tmp_path):
    path = tmp_path / "notes.pt"
    path.write_bytes(b"just some text, not a checkpoint")
    text = _refusal(path)
    assert text.startswith("notes.pt refused, not a safe checkpoint format: neither safetensors nor a torch file (")
    assert text.endswith(ADVICE) and "\n" not in text
