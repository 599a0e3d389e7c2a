"""Inference time per 256^2 crop: WgGAN / HrhGAN generators, torch vs onnxruntime (CPU).

Untrained weights (timing does not depend on their values), paper-default widths
(WgGAN base 32, HrhGAN width 64, grown 256 model). Prints medians over --repeat runs after
warm-up, and the onnxruntime/torch ratio measured in the same run.

    PYTHONPATH=... python benchmarks/bench_gan.py [--repeat 10] [--threads N] [--batch 1]
On a machine with CUDA, add --cuda for torch-on-GPU timings and training images/s.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from facewarp.networks.checkpoint import save_checkpoint
from facewarp.networks.hrhgan import HrhGenerator
from facewarp.networks.inference import export_onnx, load_model
from facewarp.networks.wggan import WgGenerator


def _ckpt(path: Path, kind: str, net, size: int) -> Path:
    tensors = {f"model.G.{k}": v for k, v in net.state_dict().items()}
    save_checkpoint(path, tensors, {"kind": kind, "size": size, "nets": {"G": dict(net.config)}})
    return path


def _median_ms(fn, x, repeat: int) -> float:
    for _ in range(2):
        fn(x)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: default)")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--cuda", action="store_true")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    s = args.size
    with tempfile.TemporaryDirectory() as td:
        td = Path(td)
        nets = {"wggan": (WgGenerator(5, 3, 32), 5), "hrhgan": (HrhGenerator(64, grown=True), 4)}
        print(f"per {s}x{s} crop, batch {args.batch}, torch {torch.__version__}, threads {torch.get_num_threads()}")
        for kind, (net, cin) in nets.items():
            ck = _ckpt(td / f"{kind}.safetensors", kind, net, s)
            onnx_path = td / f"{kind}.onnx"
            res = export_onnx(ck, onnx_path)
            x = np.random.default_rng(0).random((args.batch, cin, s, s)).astype(np.float32)
            if kind == "hrhgan":
                x[:, 3] = x[:, 3] > 0.9
            t_torch = _median_ms(load_model(ck, "cpu"), x, args.repeat)
            t_ort = _median_ms(load_model(onnx_path, "cpu"), x, args.repeat)
            print(f"{kind:7s} torch-cpu {t_torch / args.batch:8.1f} ms/crop   onnxruntime-cpu {t_ort / args.batch:8.1f} ms/crop"
                  f"   ratio ort/torch {t_ort / t_torch:5.2f}   parity {res['max_abs_diff']:.1e}")
            if args.cuda and torch.cuda.is_available():
                t_gpu = _median_ms(load_model(ck, "cuda"), x, args.repeat)
                print(f"{kind:7s} torch-cuda {t_gpu / args.batch:8.2f} ms/crop")
        if args.cuda and torch.cuda.is_available():
            from facewarp.networks.pairs import PairSet
            from facewarp.networks.training import TrainConfig, Trainer

            n = 32
            rng = np.random.default_rng(0)
            ps = PairSet(rng.random((n, 3, 288, 288), np.float32), rng.normal(size=(n, 2, 288, 288)).astype(np.float32),
                         rng.random((n, 3, 288, 288), np.float32), np.zeros((n, 1, 288, 288), np.float32), np.arange(n))
            for kind in ("wggan", "hrhgan"):
                tr = Trainer(TrainConfig(kind=kind, size=256, batch=8, device="cuda"), ps, None, progress=False)
                tr.train_step()
                torch.cuda.synchronize()
                t = time.perf_counter()
                steps = 20
                for _ in range(steps):
                    tr.train_step()
                torch.cuda.synchronize()
                dt = time.perf_counter() - t
                print(f"{kind:7s} training on cuda: {steps * 8 / dt:.1f} images/s (batch 8, 256^2, n_critic "
                      f"{tr.cfg.n_critic if kind == 'wggan' else '-'})")


if __name__ == "__main__":
    main()
