"""WgGAN / HrhGAN inference nodes, checkpoints, ONNX export: missing weights, bypass,
pickle refusal, torch vs onnxruntime parity, resume reproducing the uninterrupted run."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import torch

from facewarp.cli.onnx import export_onnx_main
from facewarp.cli.train import train_main
from facewarp.graph import Context, Evaluator, Graph, Image, InputError, Mask
from facewarp.graph.node import Node
from facewarp.graph.schema import NodeSchema, Output
from facewarp.networks.checkpoint import CheckpointError, load_checkpoint
from facewarp.networks.inference import export_onnx, load_model
from facewarp.networks.pairs import synthetic_pairs
from facewarp.networks.training import TrainConfig, Trainer

S = 64


def _astronaut():
    from skimage import data

    return data.astronaut()[30:230, 130:330]


@pytest.fixture(scope="module")
def pairs():
    return synthetic_pairs(_astronaut(), 72, 6, seed=0)


def _cfg(kind, **kw):
    base = dict(kind=kind, size=S, batch=2, base_g=8, base_d=4, width=8, n_critic=1, history=4, device="cpu",
                steps=4, ckpt_every=2, lr_g=1e-3, lr_d=1e-3)
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def wg_ckpt(tmp_path_factory, pairs):
    out = tmp_path_factory.mktemp("wg")
    tr = Trainer(_cfg("wggan", steps=2), pairs, out, progress=False).run()
    return tr.checkpoints[-1]


@pytest.fixture(scope="module")
def hrh_ckpt(tmp_path_factory, pairs):
    out = tmp_path_factory.mktemp("hrh")
    tr = Trainer(_cfg("hrhgan", steps=2), pairs, out, progress=False).run()
    return tr.checkpoints[-1]


class _Src(Node):
    schema = NodeSchema(type="_TestGanSrc", doc="", outputs=(Output("face", "Image"), Output("disp", "Image"),
                                                             Output("mouth", "Mask")))

    def compute(self, ctx, inputs):
        rng = np.random.default_rng(0)
        face = rng.random((S, S, 3)).astype(np.float32) * 0.8
        disp = rng.normal(0, 1, (S, S, 2)).astype(np.float32)
        m = np.zeros((S, S), np.float32)
        m[40:48, 24:40] = 1.0
        return {"face": Image(face), "disp": Image(disp, ("u", "v")), "mouth": Mask(m)}


def _graph(kind, weights="", bypass=False):
    g = Graph()
    g.nodes["src"] = _Src("src")
    g.add(kind, "net", {"weights": str(weights)})
    g.nodes["net"].bypass = bypass
    g.connect("src.face", "net.face")
    g.connect("src.mouth", "net.mouth")
    if kind == "WgGAN":
        g.connect("src.disp", "net.dispmap")
    return g


CTX = Context(frame=1, frames=(1,))


@pytest.mark.parametrize("kind", ["WgGAN", "HrhGAN"])
def test_missing_weights_is_one_clear_line(kind):
    with pytest.raises(InputError) as ei:
        Evaluator(_graph(kind)).pull("net", CTX)
    msg = str(ei.value)
    assert "\n" not in msg and "node 'net'" in msg and f"({kind})" in msg and "param 'weights'" in msg
    assert "bypass" in msg
    with pytest.raises(InputError, match="not found"):
        Evaluator(_graph(kind, "/nonexistent/w.safetensors")).pull("net", CTX)


@pytest.mark.parametrize("kind", ["WgGAN", "HrhGAN"])
def test_bypass_passes_the_face_through(kind):
    ev = Evaluator(_graph(kind, bypass=True))
    out = ev.pull("net", CTX)["face"]
    src = ev.pull("src", CTX)["face"]
    assert out is src or np.array_equal(out.pixels, src.pixels)


def test_wggan_node_runs_checkpoint_and_onnx_identically(wg_ckpt, tmp_path):
    onnx_path = tmp_path / "wg.onnx"
    res = export_onnx(wg_ckpt, onnx_path)
    assert res["max_abs_diff"] <= 1e-4
    a = Evaluator(_graph("WgGAN", wg_ckpt)).pull("net", CTX)["face"].pixels
    b = Evaluator(_graph("WgGAN", onnx_path)).pull("net", CTX)["face"].pixels
    assert a.shape == (S, S, 3) and np.isfinite(a).all()
    np.testing.assert_allclose(a, b, atol=1e-4)


def test_hrhgan_node_changes_only_the_hole(hrh_ckpt):
    g = _graph("HrhGAN", hrh_ckpt)
    ev = Evaluator(g)
    out = ev.pull("net", CTX)["face"].pixels
    src = ev.pull("src", CTX)
    hole = src["mouth"].alpha > 0.05
    assert np.array_equal(out[~hole], src["face"].pixels[~hole])
    assert not np.allclose(out[hole], src["face"].pixels[hole])


@pytest.mark.parametrize("which", ["wg", "hrh"])
def test_onnx_parity_with_dynamic_batch(which, wg_ckpt, hrh_ckpt, tmp_path):
    import onnxruntime as ort

    ckpt = wg_ckpt if which == "wg" else hrh_ckpt
    path = tmp_path / f"{which}.onnx"
    assert export_onnx_main([str(ckpt), str(path)]) == 0
    assert export_onnx_main([str(ckpt), str(path)]) == 2  # refuses to overwrite
    torch_model = load_model(ckpt, "cpu")
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    shape = sess.get_inputs()[0].shape
    assert not isinstance(shape[0], int)  # symbolic batch axis
    rng = np.random.default_rng(5)
    for n in (1, 4):
        x = rng.random((n, torch_model.in_channels, S, S)).astype(np.float32)
        if which == "hrh":
            x[:, 3] = (x[:, 3] > 0.8)
        ref = torch_model(x)
        got = sess.run(None, {"input": x})[0]
        assert got.shape == (n, 3, S, S)
        assert np.abs(ref - got).max() <= 1e-4


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch /tmp/facewarp_pwned_by_checkpoint",))


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_pickle_payload_checkpoint_is_refused(tmp_path, suffix):
    marker = "/tmp/facewarp_pwned_by_checkpoint"
    if os.path.exists(marker):
        os.unlink(marker)
    path = tmp_path / f"evil{suffix}"
    torch.save({"model.G.enc1.weight": torch.zeros(1), "payload": _Evil()}, path)
    with pytest.raises(CheckpointError, match="refused"):
        load_checkpoint(path)
    assert not os.path.exists(marker)
    # and through the node: one-line InputError naming the param, payload not run
    with pytest.raises(InputError) as ei:
        Evaluator(_graph("WgGAN", path)).pull("net", CTX)
    assert "param 'weights'" in str(ei.value) and not os.path.exists(marker)
    # plain pickle too
    with open(tmp_path / "evil2.pt", "wb") as f:
        pickle.dump(_Evil(), f)
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "evil2.pt")
    assert not os.path.exists(marker)


def test_weights_only_state_dict_is_accepted(wg_ckpt, tmp_path):
    tensors, meta = load_checkpoint(wg_ckpt)
    path = tmp_path / "plain.pt"
    torch.save({"tensors": {k: v for k, v in tensors.items() if k.startswith("model.G.")}, "meta": meta}, path)
    m = load_model(path, "cpu")
    x = np.random.default_rng(0).random((1, 5, S, S)).astype(np.float32)
    np.testing.assert_array_equal(m(x), load_model(wg_ckpt, "cpu")(x))


@pytest.mark.parametrize("kind", ["wggan", "hrhgan"])
def test_resume_reproduces_the_uninterrupted_run_bit_for_bit(kind, pairs, tmp_path):
    # the resumed half crosses the phase switches: HrhGAN grows, WgGAN's critic starts, and the
    # decaying learning rate must continue where it was
    extra = {"grow_at": 3, "mse_only_steps": 1} if kind == "hrhgan" else {"lr_decay": "cosine", "l1_only_steps": 4}
    straight = Trainer(_cfg(kind, steps=6, ckpt_every=3, **extra), pairs, tmp_path / "a", progress=False).run()
    mid = straight.checkpoints[0]
    assert mid.name.endswith("0000003.safetensors") and mid.with_suffix(".png").stat().st_size > 100
    resumed = Trainer(_cfg(kind, steps=6, ckpt_every=3, **extra), pairs, tmp_path / "b", progress=False)
    resumed.resume(mid).run()
    assert resumed.step == straight.step == 6
    a, _ = straight.state()
    b, _ = resumed.state()
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    # a different seed does NOT reproduce it (the comparison can fail)
    other = Trainer(_cfg(kind, steps=6, seed=7, **extra), pairs, None, progress=False).run()
    c, _ = other.state()
    assert not all(torch.equal(a[k], c[k]) for k in a if k.startswith("model.G."))


def test_train_main_cli_on_an_image_sequence(tmp_path):
    import cv2

    seq = tmp_path / "shot"
    seq.mkdir()
    img = _astronaut()
    # a short 'shot': the face translating slightly (mediapipe finds it on every frame)
    for i in range(3):
        m = np.float32([[1, 0, 2 * i], [0, 1, i]])
        fr = cv2.warpAffine(img, m, (img.shape[1], img.shape[0]), borderMode=cv2.BORDER_REFLECT)
        cv2.imwrite(str(seq / f"f{i:03d}.png"), fr[..., ::-1])
    out = tmp_path / "ck"
    argv = ["wggan", str(seq), "--out", str(out), "--steps", "2", "--size", "64", "--every", "1", "--batch", "2",
            "--base-g", "8", "--base-d", "4", "--n-critic", "1", "--ckpt-every", "1", "--device", "cpu", "--no-progress"]
    assert train_main(argv) == 0
    assert sorted(p.name for p in out.glob("*.safetensors")) == ["wggan_0000001.safetensors", "wggan_0000002.safetensors"]
    assert train_main(argv) == 2  # refuses to start afresh over existing checkpoints
    assert train_main(argv[:-3] + ["--steps", "3", "--resume", "auto", "--no-progress"]) == 0
    assert (out / "wggan_0000003.safetensors").exists()


def test_dataset_folder_of_sequences(tmp_path):
    """The paper's layout: a folder holding several sequences (image folders / videos)."""
    import cv2

    from facewarp.networks.pairs import list_sequences, pairs_from_source

    img = _astronaut()
    for name, shift in (("a_shot", 1), ("b_shot", -1)):
        d = tmp_path / "data" / name
        d.mkdir(parents=True)
        for i in range(2):
            m = np.float32([[1, 0, shift * 2 * i], [0, 1, 0]])
            cv2.imwrite(str(d / f"{i:04d}.png"), cv2.warpAffine(img, m, img.shape[1::-1], borderMode=cv2.BORDER_REFLECT)[..., ::-1])
    (tmp_path / "data" / "notes.txt").write_text("ignored")
    seqs = list_sequences(tmp_path / "data")
    assert [p.name for p in seqs] == ["a_shot", "b_shot"]
    pairs = pairs_from_source(tmp_path / "data", 72, every=1)
    assert pairs.target.shape == (4, 3, 72, 72) and list(pairs.frame_ids) == [0, 1, 0, 1]
    # the rest frame of each sequence is its own first frame: its warp is (nearly) the identity
    assert np.abs(pairs.warped[0] - pairs.target[0]).mean() < 0.01
    assert np.abs(pairs.disp[0]).max() < 1e-6


def _face_points(cx=100.0, cy=100.0):
    from facewarp.face.landmarks import INNER_LIPS

    rng = np.random.default_rng(0)
    pts = rng.normal(0, 25, (478, 2))
    pts[33], pts[133], pts[362], pts[263] = (-40, -18), (-14, -18), (14, -18), (40, -18)
    pts[61], pts[291] = (-22, 36), (22, 36)
    t = np.linspace(0, 2 * np.pi, len(INNER_LIPS), endpoint=False)
    pts[list(INNER_LIPS)] = np.stack([16 * np.cos(t), 36 + 7 * np.sin(t)], 1)
    return pts + [cx, cy]


@pytest.mark.parametrize("bypass", [False, True])
def test_crop_wggan_hrhgan_paste_pipeline(wg_ckpt, hrh_ckpt, bypass):
    from facewarp.graph import Landmarks

    ys, xs = np.mgrid[0:200, 0:220] + 0.5
    plate = np.stack([0.4 + 0.3 * np.sin(xs / 17), 0.4 + 0.3 * np.cos(ys / 13), 0.3 + 0 * xs], -1).astype(np.float32)
    pts = _face_points(110, 100)

    class _Plate(Node):
        schema = NodeSchema(type="_TestGanPlate", doc="", outputs=(Output("image", "Image"), Output("landmarks", "Landmarks"),
                                                                  Output("disp", "Image")))

        def compute(self, ctx, inputs):
            return {"image": Image(plate), "landmarks": Landmarks(pts, image_size=(220, 200)),
                    "disp": Image(np.zeros((S, S, 2), np.float32), ("u", "v"))}

    g = Graph()
    g.nodes["src"] = _Plate("src")
    g.add("FaceCrop", "crop", {"size": S})
    g.add("WgGAN", "wg", {"weights": str(wg_ckpt)})
    g.add("HrhGAN", "hrh", {"weights": str(hrh_ckpt)})
    g.add("FacePaste", "paste", {"feather": 4})
    g.nodes["wg"].bypass = g.nodes["hrh"].bypass = bypass
    for a, b in (("src.image", "crop.image"), ("src.landmarks", "crop.landmarks"), ("crop.face", "wg.face"),
                 ("src.disp", "wg.dispmap"), ("crop.mouth", "wg.mouth"), ("wg.face", "hrh.face"),
                 ("crop.mouth", "hrh.mouth"), ("src.image", "paste.plate"), ("hrh.face", "paste.face"),
                 ("crop.transform", "paste.transform"), ("crop.landmarks", "paste.landmarks")):
        g.connect(a, b)
    ev = Evaluator(g)
    out = ev.pull("paste", CTX)["image"].pixels
    assert out.shape == plate.shape and np.isfinite(out).all()
    from facewarp.face.crop import face_mask

    changed = np.any(out != plate, axis=-1)
    assert np.all(face_mask(pts, (220, 200))[changed] > 0)  # nothing outside the face hull moves
    if bypass:  # geometry only: crop + paste of the untouched crop ~ the plate (resampling error)
        assert np.abs(out - plate).max() < 0.02
    else:
        assert changed.any()


def test_validation_checks_weights_without_running_the_network(wg_ckpt, hrh_ckpt, tmp_path):
    """What the node would refuse when rendering, Graph.problems finds before: no weights, a missing
    file, a pickle, the other network's weights; safetensors, weights-only torch and ONNX pass."""
    def problems(kind, weights, bypass=False):
        return [str(p) for p in _graph(kind, weights, bypass).problems(CTX)]

    assert problems("WgGAN", wg_ckpt) == [] and problems("HrhGAN", hrh_ckpt) == []
    assert problems("WgGAN", "", bypass=True) == []  # bypassed: its weights are not read
    assert any("param 'weights': no weights" in p for p in problems("WgGAN", ""))
    assert any("input file does not exist" in p for p in problems("WgGAN", tmp_path / "gone.safetensors"))
    assert any("weights are a hrhgan model, this node needs wggan" in p for p in problems("WgGAN", hrh_ckpt))
    onnx_path = tmp_path / "wg.onnx"
    export_onnx(wg_ckpt, onnx_path, check=False)
    assert problems("WgGAN", onnx_path) == []
    assert any("needs hrhgan" in p for p in problems("HrhGAN", onnx_path))
    tensors, meta = load_checkpoint(wg_ckpt)
    plain = tmp_path / "plain.pt"
    torch.save({"tensors": {k: v for k, v in tensors.items() if k.startswith("model.G.")}, "meta": meta}, plain)
    assert problems("WgGAN", plain) == []
    marker = "/tmp/facewarp_pwned_by_checkpoint"
    if os.path.exists(marker):
        os.unlink(marker)
    with open(tmp_path / "evil.pt", "wb") as f:
        pickle.dump(_Evil(), f)
    found = problems("WgGAN", tmp_path / "evil.pt")
    assert len(found) == 1 and "param 'weights'" in found[0] and "refused" in found[0] and not os.path.exists(marker)
