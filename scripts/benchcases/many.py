"""Cases `many_tiny`, `many_small`, `many_protocol` (and `many`: all three) of scripts/bench.py: many fields in
one run (model=many) against the loops it replaces, side by side in one process.

    python scripts/bench.py --case many --device cpu
    python scripts/bench.py --case many_tiny --members 64 --steps 200
    python scripts/bench.py --case many_protocol --device cuda --root /path/to/ffn/div2k --size 512 --steps 2000

Each case fits M images (full batch, task=fit; `protocol`: the Fourier-features protocol, task=interpolate)
three ways and prints images x steps per second (the rate at which fields are trained):
  many       one `python train.py model=many` run through nfields' train() (all M members at once);
  nfields    a loop of single-image runs through train() (model=single), one per image: the Hydra multirun it
             replaces (timed on --loop-images of them, the rate is per image-step);
  hand loop  a hand-written PyTorch loop over the images (scripts/baselines/ffn_loop.py's HandFF + Adam), the
             same network, one image after the other.
Rates are wall-clock over the whole job (start-up included: what a user waits for), and for the nfields runs
also over the training steps alone (perf/steps_per_s: start-up and validation excluded). The last line times the
hand-written fits in lock-step with the many-fields run (alongside.py: after each of its calls, as
many steps of every image), so that a machine whose speed drifts affects both rates alike.
Images: --root (a folder of images, e.g. the Fourier-features set), else crops of skimage's sample images.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from baselines.ffn_loop import HandFF
from PIL import Image

from nfields.core.io import load_image, square_resize
from nfields.core.media import to_uint8
from nfields.data.image_set import ImageSet

from . import alongside
from .common import train_run, trainer

PRESETS = {  # members, image side, MLP width, hidden layers + 1, Fourier frequencies, task
    "tiny": dict(members=64, size=16, width=32, depth=4, m=32, task="fit", steps=200),
    "small": dict(members=64, size=32, width=32, depth=4, m=32, task="fit", steps=200),
    "protocol": dict(members=16, size=128, width=256, depth=4, m=256, task="interpolate", steps=50),
}
SAMPLES = ("astronaut", "coffee", "chelsea", "rocket", "camera", "cat")


def sample_images(n: int, size: int) -> list[np.ndarray]:
    """n different crops of skimage's sample images, area-downsampled to size^2 -> (size, size, 3) uint8."""
    rng, out = np.random.default_rng(0), []
    sources = [to_uint8(square_resize(load_image(s), 256)) for s in SAMPLES]
    for i in range(n):
        src = sources[i % len(sources)]
        c = int(rng.integers(64, 257))
        y, x = (int(rng.integers(0, 257 - c)) for _ in range(2))
        crop = Image.fromarray(src[y : y + c, x : x + c]).resize((size, size), Image.BOX)
        out.append(np.asarray(crop))
    return out


def write_set(images: list[np.ndarray], folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(images):
        Image.fromarray(img).save(folder / f"{i:03d}.png")
    return folder


def overrides(c: dict, root: Path, steps: int, device: str) -> list[str]:
    net = [
        f"encoding.n_features={c['m']}",
        f"network.n_neurons={c['width']}",
        f"network.n_hidden_layers={c['depth'] - 1}",
    ]
    run = [
        f"trainer.max_steps={steps}",
        f"log.val_every_n_steps={steps}",
        f"trainer={trainer(device)}",
    ]
    data = ["data=image_set", f"data.root={root}", "data.split=null", "data.size=null", f"task={c['task']}"]
    return [*data, *net, *run, "logger=none", "~callbacks.progress_gif", "encoding.sigma=10"]


def nfields_job(over: list[str], out: Path) -> tuple[float, dict]:
    """One train() call -> (wall seconds, metrics.json)."""
    t = time.perf_counter()
    _, metrics = train_run(over, out)
    return time.perf_counter() - t, metrics


class HandFits:
    """Each image's hand-written fit (HandFF + Adam, lr 1e-3, full batch), built up front: `step()` takes one
    optimiser step of every image, `psnr()` is their mean test PSNR."""

    def __init__(self, images: list[np.ndarray], c: dict, device: torch.device, first: int = 0) -> None:
        self.fits = []
        for i, img in enumerate(images, first):
            torch.manual_seed(i)  # image i's seed, however the fits are grouped
            y = torch.from_numpy(img).float().div(255).to(device)  # (H, W, 3)
            h, w, _ = y.shape
            v, u = torch.meshgrid((torch.arange(h) + 0.5) / h, (torch.arange(w) + 0.5) / w, indexing="ij")
            g = torch.stack([u, v], -1).to(device)  # (H, W, 2)
            x, y, xt, yt = g, y, g, y  # task=fit: trained and scored on every pixel
            if c["task"] == "interpolate":  # trained on the even grid, scored on the odd one
                x, y, xt, yt = g[::2, ::2], y[::2, ::2], g[1::2, 1::2], y[1::2, 1::2]
            x, y, xt, yt = x.reshape(-1, 2), y.reshape(-1, 3), xt.reshape(-1, 2), yt.reshape(-1, 3)
            model = HandFF(m=c["m"], sigma=10.0, width=c["width"], depth=c["depth"]).to(device)
            self.fits.append((model, torch.optim.Adam(model.parameters(), lr=1e-3), x, y, xt, yt))

    def step(self) -> None:
        for model, opt, x, y, _, _ in self.fits:
            opt.zero_grad(set_to_none=True)
            ((model(x) - y) ** 2).mean().backward()
            opt.step()

    @torch.no_grad()
    def psnr(self) -> float:
        return float(np.mean([-10 * math.log10(((m(xt) - yt) ** 2).mean().item()) for m, _, _, _, xt, yt in self.fits]))


def hand_loop(images: list[np.ndarray], c: dict, steps: int, device: torch.device) -> tuple[float, float]:
    """Each image fitted alone by HandFF + Adam, one after the other -> (wall seconds, mean test PSNR)."""
    t, psnrs = time.perf_counter(), []
    for i, img in enumerate(images):
        one = HandFits([img], c, device, first=i)
        for _ in range(steps):
            one.step()
        psnrs.append(one.psnr())
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t, float(np.mean(psnrs))


def run_case(name: str, a: argparse.Namespace) -> list[str]:
    c = {**PRESETS[name], **{k: v for k, v in (("members", a.members), ("size", a.size), ("steps", a.steps)) if v}}
    m, steps, device = c["members"], c["steps"], torch.device(a.device)
    with tempfile.TemporaryDirectory() as d:
        if a.root:
            s = ImageSet(a.root, None, m)
            images = [to_uint8(square_resize(s.image(i), c["size"])) for i in range(s.n)]
        else:
            images = sample_images(m, c["size"])
        m = len(images)
        root = write_set(images, Path(d) / "set")
        over = [*overrides(c, root, steps, a.device), *a.overrides]
        # The hand-written fits of every image advance in lock-step with the many-fields run (alongside.py):
        # after each of its calls of n steps, n steps of every image, outside its clock; drift then cancels.
        fits = HandFits(images, c, device)
        alongside.PENDING.append(fits.step)
        paired_hand = f"+callbacks.alongside._target_={alongside.TARGET}"
        wall_many, many = nfields_job([*over, "model=many", paired_hand], Path(d) / "many")
        hand = alongside.Alongside.last
        paired = m * hand.steps_per_s  # the hand fits' image-steps/s, in lock-step
        wall_many -= hand.total_s  # the many run's own wall time: start-up, training, validation, testing
        k = min(a.loop_images, m)
        wall_one, rates = 0.0, []
        for i in range(k):
            dt, one = nfields_job([*over, f"data.index={i}"], Path(d) / f"one{i}")
            wall_one += dt
            rates.append(one.get("perf/steps_per_s", float("nan")))  # nan: too few steps to time
        wall_hand, hand_psnr = hand_loop(images, c, steps, device)
    rows = {
        "many (model=many)": (m * steps / wall_many, m * many.get("perf/steps_per_s", float("nan")), many["test/psnr"]),
        "nfields single-run loop": (k * steps / wall_one, float(np.mean(rates)), None),
        "hand-written loop": (m * steps / wall_hand, m * steps / wall_hand, hand_psnr),
    }
    base = rows["hand-written loop"][0]
    loop = rows["nfields single-run loop"][0]
    print(f"\n## {name}: {m} images {c['size']}^2, {c['depth']}x{c['width']} MLP on {c['m']} Fourier frequencies, ")
    print(f"task={c['task']}, full batch, {steps} steps, {a.device}\n")
    lines = ["| path | images x steps / s (wall) | (training steps only) | vs hand loop | vs nfields loop | PSNR |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for label, (wall, steady, psnr) in rows.items():
        p = "-" if psnr is None else f"{psnr:.2f}"
        lines.append(f"| {label} | {wall:.3g} | {steady:.3g} | {wall / base:.2f}x | {wall / loop:.2f}x | {p} |")
    steady = m * many.get("perf/steps_per_s", float("nan"))
    lines.append(
        f"\nIn lock-step (training steps only): many {steady:.3g}, the hand-written fits {paired:.3g} image-steps/s:"
    )
    lines.append(
        f"many / hand-written loop = {steady / paired:.2f}x (test PSNR of the lock-step fits {fits.psnr():.2f} dB)"
    )
    print("\n".join(lines), flush=True)
    return lines


def run(a: argparse.Namespace) -> None:
    """Case many_<preset> (one of PRESETS), or many: each of them."""
    for name in PRESETS if a.case == "many" else [a.case.removeprefix("many_")]:
        run_case(name, a)
