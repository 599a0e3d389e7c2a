"""Training for WgGAN and HrhGAN (``facewarp train wggan|hrhgan``), per shot or per dataset.

Follows Geng et al. 2018 (the wg-GAN seed paper), with these documented choices:
  * WgGAN losses exactly as the paper: critic L_D = D(G(x_w, M), M) - D(x_g, M) (original
    WGAN, Arjovsky et al.: weight clipping at ``clip``, RMSprop), generator
    L_G = alpha * ||G(x_w, M) - x_g||_1 - D(G(x_w, M), M) with alpha = 0.004 and the L1 norm
    SUMMED over the crop (that is what makes alpha = 0.004 meaningful at 256^2).
    The generator uses Adam (not specified in the paper; the L1 term dominates and Adam
    converges faster in a per-shot setting) with betas (0.5, 0.9) as in WGAN-GP practice
    (Gulrajani et al.). DEVIATION, measured: with beta2 = 0.999 the generator's gradient norm
    spiked every ~15 steps (10 -> 50..200) and, at lr 6e-4 on the GRID test pairs, one spike
    series grew (norm 1.9e4) and saturated the sigmoid for good (held-out L1 0.018 -> 0.45,
    zero gradient from then on, seed 0); with beta2 = 0.9 (Adam's step adapts within ~10
    steps to a spike) 16 runs (seeds 0-2, lr 6e-4 to 1.5e-3) never diverged; 3e-3 still does.
    The critic's weight clipping IS enforced (clamp after every RMSprop step) and was not the
    cause: at the test's widths the clipped critic's L_D stays below 1e-4 before the collapse.
  * Optional, off by default (``lr_decay``, ``l1_only_steps``; the short-training test uses
    both): a cosine/linear decay of the generator's lr to 0 at ``steps``, and an L1-only
    warm-up in which the critic is not run (each step ~35 % cheaper on CPU) before the
    paper's alpha * L1 - D. Neither is in the paper; Iizuka et al.'s completion training
    (HrhGAN below) uses the same kind of reconstruction-only first phase. The inner mouth is left out of the input, of
    the L1 term and of what the critic sees (the paper: "face with full details except the
    inner of the mouth"; HrhGAN fills it).
  * Critic history (Shrivastava et al. 2017): half of each critic batch of fakes is drawn
    from a buffer of past generator outputs, and the drawn slots are replaced by current
    outputs. The buffer stores float16 copies (halves checkpoint size, resume stays exact).
  * HrhGAN: Iizuka et al.'s loss (masked MSE + alpha_adv * (global + local GAN), BCE,
    alpha_adv = 4e-4) with an MSE-only warm-up (Iizuka's T_C phase; their D-only phase T_D
    is folded into the joint phase to keep per-shot runs short); Adam for all nets.
    Progressive 128 -> 256 (``grow_at``): steps before ``grow_at`` train the stage-1 model on
    half-resolution data, then stems/heads are replaced (see _hrhgan_nets) and fresh
    optimizers are built for the grown nets.
  * Bit-exact resume: all randomness after model construction comes from one explicit
    ``torch.Generator`` (batches, crops, flips, history slots) whose state is checkpointed
    with the model, optimizer, global RNG and history tensors; deterministic algorithms on.
"""

from __future__ import annotations

import contextlib
import math
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from facewarp.networks.checkpoint import (
    CheckpointError,
    load_checkpoint,
    optimizer_from_tensors,
    optimizer_to_tensors,
    save_checkpoint,
    sub_state,
    write_bytes_atomic,
)
from facewarp.networks.hrhgan import GlobalDiscriminator, HrhGenerator, LocalDiscriminator, complete
from facewarp.networks.pairs import PairSet
from facewarp.networks.wggan import WgDiscriminator, WgGenerator

KINDS = ("wggan", "hrhgan")
HRH_FILL = 0.5


@dataclass
class TrainConfig:
    kind: str = "wggan"
    size: int = 256  # network crop size (the final size for a progressive HrhGAN)
    steps: int = 20000
    batch: int = 8
    seed: int = 0
    device: str = "auto"
    ckpt_every: int = 1000
    flip: bool = True  # random horizontal flips (the paper's augmentation)
    crop_scale: float = 1.0  # FaceCrop 'scale' framing of the training crops: use the same at inference
    # WgGAN
    alpha: float = 0.004
    lr_g: float = 1e-4
    lr_d: float = 5e-5
    n_critic: int = 5
    clip: float = 0.01
    history: int = 64
    beta2: float = 0.9  # generator Adam beta2 (WGAN-GP practice; 0.999 let lr spikes kill the sigmoid)
    lr_decay: str = "none"  # none | linear | cosine: generator lr schedule over `steps`
    l1_only_steps: int = 0  # WgGAN: generator trained on alpha * L1 alone (no critic) for these first steps
    base_g: int = 32
    base_d: int = 64
    # HrhGAN
    width: int = 64
    adv_weight: float = 4e-4
    mse_only_steps: int = 0
    grow_at: int = 0  # > 0: progressive, stage-1 at size/2 until this step

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> TrainConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda requested but torch sees no CUDA device")
    return torch.device(device)


@contextlib.contextmanager
def deterministic():
    """Deterministic algorithms while training; the previous process-wide setting is restored
    afterwards so that importing/using the trainer does not change other code's behaviour."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    prev = torch.are_deterministic_algorithms_enabled()
    prev_bench = torch.backends.cudnn.benchmark
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(prev)
        torch.backends.cudnn.benchmark = prev_bench


@dataclass
class _Data:
    """Pairs as tensors on the device (N x C x Sd x Sd)."""

    warped: torch.Tensor
    disp: torch.Tensor
    target: torch.Tensor
    mouth: torch.Tensor

    @classmethod
    def from_pairs(cls, pairs: PairSet, device) -> _Data:
        t = lambda a: torch.from_numpy(np.ascontiguousarray(a, np.float32)).to(device)  # noqa: E731
        return cls(t(pairs.warped), t(pairs.disp), t(pairs.target), t(pairs.mouth))

    def half_res(self) -> _Data:
        return _Data(*(F.avg_pool2d(x, 2) for x in (self.warped, self.disp, self.target, self.mouth)))

    def __len__(self):
        return self.target.shape[0]


class Trainer:
    """One training run. ``pairs``: a PairSet (``networks.pairs``) at >= ``config.size``."""

    def __init__(self, config: TrainConfig, pairs: PairSet, out_dir: str | os.PathLike | None = None,
                 progress: bool = True):
        if config.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {config.kind!r}")
        self.cfg = config
        if config.lr_decay not in ("none", "linear", "cosine"):
            raise ValueError(f"lr_decay must be none, linear or cosine, got {config.lr_decay!r}")
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.progress = progress
        self.device = resolve_device(config.device)
        if pairs.target.shape[-1] < config.size:
            raise ValueError(f"pairs are {pairs.target.shape[-1]}^2, smaller than the crop size {config.size}")
        self.data_full = _Data.from_pairs(pairs, self.device)
        self.data_half = self.data_full.half_res() if config.kind == "hrhgan" and config.grow_at > 0 else None
        self.step = 0
        torch.manual_seed(config.seed)
        self.gen = torch.Generator().manual_seed(config.seed + 1)
        self._build()
        self.checkpoints: list[Path] = []

    # -- construction ---------------------------------------------------------------------------
    @property
    def grown(self) -> bool:
        return self.cfg.kind == "hrhgan" and (self.cfg.grow_at <= 0 or self.step >= self.cfg.grow_at)

    @property
    def cur_size(self) -> int:
        if self.cfg.kind == "hrhgan" and self.cfg.grow_at > 0 and self.step < self.cfg.grow_at:
            return self.cfg.size // 2
        return self.cfg.size

    def _build(self, grown: bool | None = None):
        c = self.cfg
        dev = self.device
        if c.kind == "wggan":
            self.nets = {"G": WgGenerator(5, 3, c.base_g).to(dev), "D": WgDiscriminator(c.size, 5, c.base_d).to(dev)}
            self.opts = {
                "G": torch.optim.Adam(self.nets["G"].parameters(), lr=c.lr_g, betas=(0.5, c.beta2)),
                "D": torch.optim.RMSprop(self.nets["D"].parameters(), lr=c.lr_d),
            }
            s = c.size
            self.hist_img = torch.zeros((0, 3, s, s), dtype=torch.float16, device=dev)
            self.hist_disp = torch.zeros((0, 2, s, s), dtype=torch.float16, device=dev)
        else:
            progressive = c.grow_at > 0
            base = c.size // 2 if progressive else c.size
            g = grown if grown is not None else (not progressive)
            # stage-1 sizes: the generator is fully convolutional; the discriminators' FC sizes
            # are fixed by their stage-1 input (image, and the half-size local patch)
            self.nets = {
                "G": HrhGenerator(c.width, grown=g).to(dev),
                "Dg": GlobalDiscriminator(base if progressive else c.size, c.width, grown=False).to(dev),
                "Dl": LocalDiscriminator((base if progressive else c.size) // 2, c.width, grown=False).to(dev),
            }
            if progressive and g:
                self.nets["Dg"].grow()
                self.nets["Dl"].grow()
                self.nets["Dg"].to(dev)
                self.nets["Dl"].to(dev)
            self._make_hrh_opts()

    def _make_hrh_opts(self):
        c = self.cfg
        self.opts = {k: torch.optim.Adam(self.nets[k].parameters(), lr=c.lr_g if k == "G" else c.lr_d,
                                         betas=(0.5, 0.999)) for k in ("G", "Dg", "Dl")}

    def _grow(self):
        """Progressive step: replace stems/heads, keep bodies, new optimizers."""
        for k in ("G", "Dg", "Dl"):
            self.nets[k].grow()
            self.nets[k].to(self.device)
        self._make_hrh_opts()

    # -- batches --------------------------------------------------------------------------------
    def _batch(self, data: _Data, size: int):
        n = len(data)
        sd = data.target.shape[-1]
        b = self.cfg.batch
        idx = torch.randint(n, (b,), generator=self.gen)
        off = torch.randint(sd - size + 1, (b, 2), generator=self.gen)
        flip = torch.rand(b, generator=self.gen) < 0.5
        if not self.cfg.flip:
            flip[:] = False
        out = []
        for arr in (data.warped, data.disp, data.target, data.mouth):
            parts = []
            for i in range(b):
                y, x = int(off[i, 0]), int(off[i, 1])
                parts.append(arr[int(idx[i]), :, y:y + size, x:x + size])
            out.append(torch.stack(parts))
        fl = flip.to(self.device)[:, None, None, None]
        out = [torch.where(fl, t.flip(-1), t) for t in out]
        out[1] = torch.where(fl, out[1] * torch.tensor([-1.0, 1.0], device=self.device)[None, :, None, None], out[1])
        return out  # warped, disp, target, mouth

    # -- one step -------------------------------------------------------------------------------
    def train_step(self) -> dict[str, float]:
        with deterministic():
            if self.cfg.kind == "wggan":
                return self._wg_step()
            if self.cfg.grow_at > 0 and self.step == self.cfg.grow_at and not self.nets["G"].grown:
                self._grow()
            return self._hrh_step()

    def _wg_step(self) -> dict[str, float]:
        c = self.cfg
        G, D = self.nets["G"], self.nets["D"]
        loss_d = torch.zeros(())
        adversarial = self.step >= c.l1_only_steps
        for _ in range(c.n_critic if adversarial else 0):
            warped, disp, target, mouth = self._batch(self.data_full, c.size)
            keep = 1.0 - mouth
            with torch.no_grad():
                fake = G(torch.cat([warped * keep, disp], 1)) * keep
            fake_mix, disp_mix = self._history_mix(fake, disp)
            loss_d = D(fake_mix, disp_mix).mean() - D(target * keep, disp).mean()
            self.opts["D"].zero_grad(set_to_none=True)
            loss_d.backward()
            loss_d = loss_d.detach()
            self.opts["D"].step()
            with torch.no_grad():
                for p in D.parameters():
                    p.clamp_(-c.clip, c.clip)
        warped, disp, target, mouth = self._batch(self.data_full, c.size)
        keep = 1.0 - mouth
        out = G(torch.cat([warped * keep, disp], 1)) * keep
        # ||.||_1 summed over the crop, expressed at the paper's 256^2 so that alpha = 0.004 keeps
        # its balance against the critic at the reduced sizes used for quick per-shot runs
        l1 = (out - target * keep).abs().mean(dim=(1, 2, 3)).mean() * (3 * 256 * 256)
        adv = D(out, disp).mean() if adversarial else torch.zeros(())
        loss_g = c.alpha * l1 - adv
        self.opts["G"].zero_grad(set_to_none=True)
        loss_g.backward()
        for g in self.opts["G"].param_groups:
            g["lr"] = self.lr_at(self.step)
        self.opts["G"].step()
        self.step += 1
        l1, loss_g = l1.detach(), loss_g.detach()
        return {"l1": float(l1) / (3 * 256 * 256), "loss_d": float(loss_d), "loss_g": float(loss_g)}

    def lr_at(self, step: int) -> float:
        """Generator learning rate at ``step`` (0-based): ``lr_g`` constant, or decayed to 0 at
        ``steps`` (linear / cosine). A function of the step only, so resuming reproduces it
        (as long as ``steps`` is not changed on resume)."""
        c = self.cfg
        if c.lr_decay == "none":
            return c.lr_g
        t = min(max(step / max(c.steps, 1), 0.0), 1.0)
        if c.lr_decay == "linear":
            return c.lr_g * (1.0 - t)
        if c.lr_decay == "cosine":
            return c.lr_g * 0.5 * (1.0 + math.cos(math.pi * t))
        raise ValueError(f"lr_decay must be none, linear or cosine, got {c.lr_decay!r}")

    def _history_mix(self, fake: torch.Tensor, disp: torch.Tensor):
        """Shrivastava et al.: half the fakes shown to D come from the history buffer; the
        used slots are then overwritten with current fakes. Until the buffer is full, current
        fakes are appended."""
        cap = self.cfg.history
        if cap <= 0:
            return fake, disp
        b = fake.shape[0]
        n = self.hist_img.shape[0]
        cur_img, cur_disp = fake.detach().half(), disp.detach().half()
        if n < cap:
            take = min(cap - n, b)
            self.hist_img = torch.cat([self.hist_img, cur_img[:take]])
            self.hist_disp = torch.cat([self.hist_disp, cur_disp[:take]])
            return fake, disp
        half = b // 2
        slots = torch.randperm(n, generator=self.gen)[:half].to(self.device)
        mix_img = torch.cat([fake[: b - half], self.hist_img[slots].float()])
        mix_disp = torch.cat([disp[: b - half], self.hist_disp[slots].float()])
        self.hist_img[slots] = cur_img[b - half:]
        self.hist_disp[slots] = cur_disp[b - half:]
        return mix_img, mix_disp

    def _local_patches(self, imgs: torch.Tensor, hole: torch.Tensor, psize: int) -> torch.Tensor:
        """Patch of ``psize`` centred on each hole's centroid (clamped inside the image)."""
        s = imgs.shape[-1]
        ys = torch.arange(s, device=imgs.device, dtype=imgs.dtype)
        parts = []
        for i in range(imgs.shape[0]):
            m = hole[i, 0]
            tot = m.sum()
            if float(tot) > 0:
                cy = float((m.sum(1) * ys).sum() / tot)
                cx = float((m.sum(0) * ys).sum() / tot)
            else:
                cy = cx = s / 2.0
            y0 = int(min(max(round(cy - psize / 2), 0), s - psize))
            x0 = int(min(max(round(cx - psize / 2), 0), s - psize))
            parts.append(imgs[i, :, y0:y0 + psize, x0:x0 + psize])
        return torch.stack(parts)

    def _hrh_step(self) -> dict[str, float]:
        c = self.cfg
        size = self.cur_size
        data = self.data_half if (self.data_half is not None and size < c.size) else self.data_full
        G, Dg, Dl = self.nets["G"], self.nets["Dg"], self.nets["Dl"]
        _, _, img, mouth = self._batch(data, size)
        hole = (mouth > 0.05).float()
        comp = complete(G, img, hole, HRH_FILL)
        nh = hole.sum().clamp_min(1.0) * 3.0
        mse = (((comp - img) * hole) ** 2).sum() / nh
        psize = size // 2
        bce = F.binary_cross_entropy_with_logits
        loss_d = torch.zeros(())
        adversarial = self.step >= c.mse_only_steps and c.adv_weight > 0
        if adversarial:
            fake = comp.detach()
            real_l, fake_l = self._local_patches(img, hole, psize), self._local_patches(fake, hole, psize)
            dr, df = Dg(img), Dg(fake)
            lr_, lf = Dl(real_l), Dl(fake_l)
            ones, zeros = torch.ones_like(dr), torch.zeros_like(dr)
            loss_d = bce(dr, ones) + bce(df, zeros) + bce(lr_, ones) + bce(lf, zeros)
            self.opts["Dg"].zero_grad(set_to_none=True)
            self.opts["Dl"].zero_grad(set_to_none=True)
            loss_d.backward()
            loss_d = loss_d.detach()
            self.opts["Dg"].step()
            self.opts["Dl"].step()
            gg = Dg(comp)
            gl = Dl(self._local_patches(comp, hole, psize))
            loss_g = mse + c.adv_weight * (bce(gg, torch.ones_like(gg)) + bce(gl, torch.ones_like(gl)))
        else:
            loss_g = mse
        self.opts["G"].zero_grad(set_to_none=True)
        loss_g.backward()
        self.opts["G"].step()
        self.step += 1
        mse, loss_g = mse.detach(), loss_g.detach()
        return {"mse": float(mse), "loss_d": float(loss_d), "loss_g": float(loss_g)}

    # -- running --------------------------------------------------------------------------------
    def run(self, steps: int | None = None) -> Trainer:
        from tqdm import tqdm

        total = self.cfg.steps if steps is None else steps
        bar = tqdm(total=total, initial=self.step, disable=not self.progress, desc=self.cfg.kind, unit="step",
                   dynamic_ncols=True)
        try:
            while self.step < total:
                logs = self.train_step()
                bar.update(1)
                if self.step % 10 == 0:
                    bar.set_postfix({k: f"{v:.4g}" for k, v in logs.items()})
                if self.out_dir is not None and self.cfg.ckpt_every > 0 and self.step % self.cfg.ckpt_every == 0:
                    self.save()
        finally:
            bar.close()
        if self.out_dir is not None and (not self.checkpoints or self.checkpoints[-1] != self.ckpt_path(self.step)):
            self.save()
        return self

    # -- inference helpers ----------------------------------------------------------------------
    @torch.no_grad()
    def predict(self, pairs: PairSet, batch: int = 16) -> np.ndarray:
        """Generator output on (centre crops of) ``pairs`` at the current size, N x 3 x S x S."""
        G = self.nets["G"]
        size = self.cur_size
        outs = []
        for i in range(0, len(pairs.target), batch):
            sl = slice(i, i + batch)
            w, d, t, m = (_center(torch.from_numpy(np.ascontiguousarray(a[sl])), size, self.cur_scale)
                          for a in (pairs.warped, pairs.disp, pairs.target, pairs.mouth))
            w, d, t, m = (x.to(self.device) for x in (w, d, t, m))
            if self.cfg.kind == "wggan":
                outs.append(G(torch.cat([w * (1 - m), d], 1)).cpu())
            else:
                outs.append(complete(G, t, (m > 0.05).float(), HRH_FILL).cpu())
        return torch.cat(outs).numpy()

    @property
    def cur_scale(self) -> int:
        return 2 if self.cur_size < self.cfg.size else 1

    # -- checkpoints ----------------------------------------------------------------------------
    def ckpt_path(self, step: int) -> Path:
        return self.out_dir / f"{self.cfg.kind}_{step:07d}.safetensors"

    def state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        tensors: dict[str, torch.Tensor] = {}
        optim_meta = {}
        for k, net in self.nets.items():
            for n, v in net.state_dict().items():
                tensors[f"model.{k}.{n}"] = v
        for k, opt in self.opts.items():
            t, m = optimizer_to_tensors(opt, f"optim.{k}")
            tensors.update(t)
            optim_meta[k] = m
        tensors["rng.torch_cpu"] = torch.get_rng_state()
        tensors["rng.data"] = self.gen.get_state()
        if self.device.type == "cuda":
            tensors["rng.torch_cuda"] = torch.cuda.get_rng_state(self.device)
        if self.cfg.kind == "wggan":
            tensors["buffer.history_img"] = self.hist_img
            tensors["buffer.history_disp"] = self.hist_disp
        meta = {"kind": self.cfg.kind, "step": self.step, "config": self.cfg.to_json(), "optim": optim_meta,
                "nets": {k: dict(getattr(net, "config", {})) for k, net in self.nets.items()},
                "size": self.cur_size, "grown": bool(getattr(self.nets["G"], "grown", False))}
        return tensors, meta

    def save(self, path: str | os.PathLike | None = None) -> Path:
        tensors, meta = self.state()
        path = Path(path) if path is not None else self.ckpt_path(self.step)
        save_checkpoint(path, tensors, meta)
        self.checkpoints.append(path)
        try:
            write_bytes_atomic(path.with_suffix(".png"), self.preview_png())
        except Exception:  # noqa: BLE001 - a preview must never stop training
            pass
        return path

    def load_state(self, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
        if meta.get("kind") != self.cfg.kind:
            raise CheckpointError(f"checkpoint is for {meta.get('kind')!r}, not {self.cfg.kind!r}")
        self.step = int(meta["step"])
        if self.cfg.kind == "hrhgan":
            self._build(grown=bool(meta.get("grown")))
        for k, net in self.nets.items():
            net.load_state_dict(sub_state(tensors, f"model.{k}"))
        for k, opt in self.opts.items():
            optimizer_from_tensors(opt, {n: v.to(self.device) for n, v in tensors.items()}, meta["optim"][k], f"optim.{k}")
        torch.set_rng_state(tensors["rng.torch_cpu"])
        self.gen.set_state(tensors["rng.data"])
        if self.device.type == "cuda" and "rng.torch_cuda" in tensors:
            torch.cuda.set_rng_state(tensors["rng.torch_cuda"], self.device)
        if self.cfg.kind == "wggan":
            self.hist_img = tensors["buffer.history_img"].to(self.device)
            self.hist_disp = tensors["buffer.history_disp"].to(self.device)

    def resume(self, path: str | os.PathLike) -> Trainer:
        tensors, meta = load_checkpoint(path)
        self.load_state(tensors, meta)
        return self

    # -- preview --------------------------------------------------------------------------------
    def preview_png(self, n: int = 4) -> bytes:
        import cv2

        idx = np.arange(min(n, len(self.data_full)))
        d = self.data_full
        size = self.cur_size
        pairs = PairSet(*(x[idx].cpu().numpy() for x in (d.warped, d.disp, d.target, d.mouth)), np.asarray(idx))
        out = self.predict(pairs)
        s = lambda a: _center(torch.from_numpy(a), size, self.cur_scale).numpy()  # noqa: E731
        w, disp, t, m = s(pairs.warped), s(pairs.disp), s(pairs.target), s(pairs.mouth)
        if self.cfg.kind == "wggan":
            dv = np.concatenate([0.5 + 0.25 * disp, np.full_like(disp[:, :1], 0.5)], 1)
            cols = [w * (1 - m), np.clip(dv, 0, 1), out, t]
        else:
            hole = (m > 0.05).astype(np.float32)
            cols = [t * (1 - hole) + HRH_FILL * hole, out, t]
        grid = np.concatenate([np.concatenate(list(c), 1) for c in cols], 2)  # 3 x (n*S) x (k*S)
        img = (np.clip(grid.transpose(1, 2, 0), 0, 1) * 255 + 0.5).astype(np.uint8)[..., ::-1]
        ok, buf = cv2.imencode(".png", img)
        if not ok:
            raise RuntimeError("PNG encoding failed")
        return buf.tobytes()


def _center(x: torch.Tensor, size: int, scale: int = 1) -> torch.Tensor:
    if scale > 1:
        x = F.avg_pool2d(x, scale)
    s = x.shape[-1]
    o = (s - size) // 2
    return x[..., o:o + size, o:o + size]


def latest_checkpoint(out_dir: Path, kind: str) -> Path | None:
    found = sorted(out_dir.glob(f"{kind}_[0-9]*.safetensors"))
    return found[-1] if found else None


def train(kind: str, sources: list[str], out_dir: str | os.PathLike, *, every: int = 10, max_frames: int | None = None,
          resume: str | None = None, overwrite: bool = False, progress: bool = True, landmark_fn=None,
          **options) -> Trainer:
    """Library entry point: build the pairs from ``sources`` and train (or resume)."""
    from facewarp.networks.pairs import pairs_from_source

    out = Path(out_dir)
    cfg = TrainConfig(kind=kind, **{k: v for k, v in options.items() if v is not None})
    resume_path = None
    if resume == "auto":
        resume_path = latest_checkpoint(out, kind) if out.is_dir() else None
        if resume_path is None:
            raise FileNotFoundError(f"--resume auto: no {kind}_*.safetensors in {out}")
    elif resume:
        resume_path = Path(resume)
    if resume_path is not None:
        _, meta = load_checkpoint(resume_path)
        saved = TrainConfig.from_json(meta.get("config", {}))
        # the run's definition comes from the checkpoint; only the length / device may change
        saved.steps = cfg.steps if "steps" in options and options["steps"] is not None else saved.steps
        saved.device = cfg.device
        cfg = saved
    elif out.is_dir() and latest_checkpoint(out, kind) is not None and not overwrite:
        raise FileExistsError(f"{out} already holds {kind} checkpoints: pass --resume auto or --overwrite")
    data_size = int(round(cfg.size * 9 / 8 / 2)) * 2  # room for the paper's random-crop augmentation
    pairs = PairSet.concat([pairs_from_source(s, data_size, every=every, max_frames=max_frames,
                                              landmark_fn=landmark_fn, scale=cfg.crop_scale * data_size / cfg.size)
                            for s in sources])
    trainer = Trainer(cfg, pairs, out, progress=progress)
    if resume_path is not None:
        trainer.resume(resume_path)
    return trainer.run()
