"""Cases `protocol`, `tiny`, `batch` and `time_to_psnr` of scripts/bench.py: nfields' train() against the
hand-written loop (scripts/baselines/ffn_loop.py) on the Fourier-features protocol, and time to a PSNR target."""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
from baselines.ffn_loop import HandLoop
from baselines.ffn_loop import train as hand_train

from nfields.core.io import load_image, square_resize

from . import alongside
from .common import train_run, trainer

CONSTANT_LR = "model.scheduler=null"  # the hand-written loop's Adam runs at a constant rate
# lever -> (the hand-written loop's mode, nfields overrides); "defaults" is what `python train.py` does.
LEVERS = {
    "defaults": ("eager", []),
    # The same work on both sides, the framework's own cost: nfields' defaults against the loop with fused Adam
    # and a full batch's features computed once (nfields' choices), and without them against the fused loop. The
    # loop's rate is constant: nfields' default cosine schedule is off on these levers (it is an extra step of
    # work, and a scheduler keeps model.compile=step's update eager, where the loop compiles its own)
    "defaults/kept": ("kept", [CONSTANT_LR]),
    "keep_features=false": ("fused", ["model.keep_features=false", CONSTANT_LR]),
    "steps_per_call=1": ("eager", ["model.steps_per_call=1"]),
    "compile=step": ("compile_step", ["model.compile=step", CONSTANT_LR]),
    "cuda_graph": ("cuda_graph", ["model.compile=step", CONSTANT_LR]),  # CUDA only: compile=step is reduce-overhead
}
PRESETS = {  # case -> image side, MLP width, steps (and the batch of random coordinates, extra overrides)
    "protocol": {"size": 512, "width": 256, "steps": 2000},
    "tiny": {"size": 32, "width": 32, "steps": 1000},
    "batch": {"size": 2048, "width": 256, "steps": 20, "batch": 2**20, "overrides": ["data.upsample=true"]},
}


def nfields_run(size: int, steps: int, device: str, task: str, extra: list[str]) -> dict[str, float]:
    overrides = ["experiment=ffn_bench", f"data.size={size}", f"trainer.max_steps={steps}"]
    overrides += [f"trainer={trainer(device)}", *([f"task={task}"] if task != "interpolate" else [])]
    with tempfile.TemporaryDirectory() as d:
        _, m = train_run([*overrides, *extra], Path(d) / "run")
    n = (size // 2) ** 2 if task == "interpolate" else size**2
    batch = next((int(o.split("=", 1)[1]) for o in extra if o.startswith("data.batch_size=")), None)
    n = n if batch is None else min(n, batch)
    return {
        "steps_per_s": m["perf/steps_per_s"],
        "coords": n,
        "psnr": m["test/psnr"],
        "k": m.get("perf/steps_per_call"),
        "first": m.get("perf/first_step_s"),
    }


def paired(
    a: argparse.Namespace, img: torch.Tensor, mode: str, batch: int | None, extra: list[str]
) -> tuple[dict[str, float], dict[str, float]]:
    """One nfields run with the hand-written loop in lock-step (alongside.py) -> (hand, nfields).
    The hand loop's 5 warm-up steps (and its compilation) come first; it then takes nfields' number of steps."""
    loop = HandLoop(img, torch.device(a.device), a.width, mode, batch)
    t0 = time.perf_counter()
    run = loop.runner()
    for _ in range(5):
        run()
    first = time.perf_counter() - t0
    alongside.PENDING.append(run)
    ours = nfields_run(a.size, a.steps, a.device, a.task, [*extra, f"+callbacks.alongside._target_={alongside.TARGET}"])
    rate = alongside.Alongside.last.steps_per_s
    return {"steps_per_s": rate, "coords": loop.coords, "psnr": loop.psnr(), "startup_s": first}, ours


def compare(
    a: argparse.Namespace, img: torch.Tensor, mode: str, batch: int | None, extra: list[str]
) -> tuple[dict[str, float], dict[str, float]]:
    """The hand-written loop (`mode`) and one nfields run -> (hand, nfields): in lock-step, or one after the
    other with --sequential."""
    if a.sequential:
        hand = hand_train(img, a.steps, torch.device(a.device), a.width, mode=mode, batch=batch)
        return hand, nfields_run(a.size, a.steps, a.device, a.task, extra)
    return paired(a, img, mode, batch, extra)


def run_overrides(a: argparse.Namespace, batch: int | None) -> list[str]:
    """The nfields run's overrides for --width, the case's batch and the command line's."""
    return [f"network.n_neurons={a.width}", *([f"data.batch_size={batch}"] if batch else []), *a.overrides]


def row(name: str, r: dict[str, float]) -> str:
    return f"| {name} | {r['steps_per_s']:.1f} | {r['steps_per_s'] * r['coords'] / 1e6:.2f} | {r['psnr']:.2f} |"


def lever_table(a: argparse.Namespace, img: torch.Tensor, levers: list[str], batch: int | None) -> None:
    """Each lever on both sides, compared a.repeat times; every ratio printed."""
    print("| lever | hand-written mode | hand steps/s | nfields steps/s | ratio | Mcoord/s hand / nfields |", end="")
    print(" test PSNR hand / nfields (dB) | nfields k | first step hand / nfields (s) |")
    print("|---|---|---|---|---|---|---|---|---|")
    ratios: dict[str, list[float]] = {}
    extra = run_overrides(a, batch)
    for lever in levers:
        mode, over = LEVERS[lever]
        for _ in range(a.repeat):
            hand, ours = compare(a, img, mode, batch, [*extra, *over])
            r = ours["steps_per_s"] / hand["steps_per_s"]
            ratios.setdefault(lever, []).append(r)
            mc = f"{hand['steps_per_s'] * hand['coords'] / 1e6:.2f} / {ours['steps_per_s'] * ours['coords'] / 1e6:.2f}"
            first = f"{hand['startup_s']:.1f} / {ours['first'] or 0:.1f}"
            speeds = f"{hand['steps_per_s']:.1f} | {ours['steps_per_s']:.1f}"
            print(f"| {lever} | {mode} | {speeds} | {r:.3f} | {mc} |", end="")
            print(f" {hand['psnr']:.2f} / {ours['psnr']:.2f} | {ours['k']} | {first} |", flush=True)
    print()
    for lever, rs in ratios.items():
        print(f"ratio nfields / hand-written steps/s, {lever}: {', '.join(f'{r:.3f}' for r in rs)}")


def run(a: argparse.Namespace) -> None:
    """Cases protocol, tiny and batch: the two paths side by side (each lever with --levers)."""
    preset = PRESETS[a.case]
    a.size, a.width, a.steps = a.size or preset["size"], a.width or preset["width"], a.steps or preset["steps"]
    a.overrides = [*preset.get("overrides", []), *a.overrides]
    device, batch = torch.device(a.device), preset.get("batch")
    img = square_resize(load_image("astronaut"), a.size, upsample=a.size > 512)  # astronaut is 512^2
    print(f"# {a.case}: astronaut {a.size}^2, {a.steps} steps, width {a.width}, device {device}", end="")
    print(f"{f', batch {batch}' if batch else ''}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    if a.levers:
        cuda_only = {"cuda_graph"}
        names = [n for n in LEVERS if device.type == "cuda" or n not in cuda_only] if a.levers == "all" else None
        return lever_table(a, img, names or a.levers.split(","), batch)
    print("| path | steps/s | Mcoord/s | test PSNR (dB) |\n|---|---|---|---|")
    ratios = []
    extra = run_overrides(a, batch)
    for _ in range(a.repeat):
        hand, ours = compare(a, img, "eager", batch, extra)
        print(row("hand-written loop", hand))
        print(row("nfields train.py", ours))
        ratios.append(ours["steps_per_s"] / hand["steps_per_s"])
    print(f"\nratio nfields / hand-written steps/s: {', '.join(f'{r:.3f}' for r in ratios)}")


# Time-to-PSNR: fourier + the protocol's MLP against a hash grid + a small MLP (Instant-NGP's pairing).
ENCODERS = {
    "fourier (4x256 MLP, lr 1e-3)": ["encoding=fourier"],
    "hashgrid (3x64 MLP, lr 1e-2)": [
        "encoding=hashgrid",
        "network.n_neurons=64",
        "network.n_hidden_layers=2",
        "model.lr=1e-2",
    ],
}


def time_to_psnr(a: argparse.Namespace) -> None:
    """Training seconds until val/psnr first reaches --target (fit task, validation every 10 steps)."""
    size, steps = a.size or 128, a.steps or 2000
    print(f"# time to {a.target:g} dB: astronaut {size}^2, fit, full batch, device {a.device}")
    print(
        "| encoding | steps/s | step reaching target | training s to target | final PSNR (dB) |\n|---|---|---|---|---|"
    )
    for name, enc in ENCODERS.items():
        overrides = ["experiment=ffn_bench", "task=fit", f"data.size={size}", f"trainer.max_steps={steps}"]
        overrides += [f"trainer={trainer(a.device)}", "log.val_every_n_steps=10", *enc, *a.overrides]
        with tempfile.TemporaryDirectory() as d:
            _, m = train_run(overrides, Path(d) / "run")
            hist = json.loads((Path(d) / "run" / "history.json").read_text())["val"]
        hit = next((h["step"] for h in hist if (h.get("val/psnr") or 0) >= a.target), None)
        sps = m["perf/steps_per_s"]
        to = f"{hit} | {hit / sps:.1f}" if hit else f"not within {steps} | -"
        print(f"| {name} | {sps:.1f} | {to} | {m['val/psnr']:.2f} |")
