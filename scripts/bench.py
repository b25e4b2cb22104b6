"""Benchmark nfields's own training path against a plain hand-written PyTorch loop, in one process.

    python scripts/bench.py --device cpu --size 128 --steps 300      # CPU, reduced protocol
    python scripts/bench.py --device cuda                            # the full protocol on a GPU
    python scripts/bench.py --case tiny --device cpu --repeat 3 --levers all   # 32^2, 4x32 MLP: ~1 ms steps
    python scripts/bench.py --case batch --device cpu --width 32 --steps 20    # 2048^2, 2^20 random coords a step
    python scripts/bench.py --case time_to_psnr --size 128 --steps 500   # hashgrid vs fourier to 30 dB
    python scripts/bench.py --case collection --device cpu --steps 200   # images/s: concat, film, hypernet
    python scripts/bench.py --case memory --sizes 2048,8192 --steps 20    # peak memory on very large images

Case `protocol` (Tancik et al. 2020): astronaut at --size^2, train on the even grid, test on the
odd grid; 4x256 ReLU MLP (sigmoid out) on 256 Gaussian Fourier features (sigma 10), Adam lr 1e-3,
full batch. nfields runs `experiment=ffn_bench` through the same `train()` as `python train.py`
(steps/s from metrics.json: start-up and validation excluded); the hand-written loop is
scripts/baselines/ffn_loop.py (timed after 5 warm-up steps). Prints steps/s, coordinates/s, test PSNR
and the ratio nfields / hand-written.

Case `tiny` is the protocol at 32^2 with a 4x32 MLP (256 coordinates, a step of about 1 ms: the regime
where framework overhead shows); case `batch` is 2048^2 with 2^20 random coordinates of the even grid a step
(`data.batch_size`; the hand-written loop draws the same number on the device). `--levers` runs each speed
lever on both sides in the same process (LEVERS below: defaults; defaults against the loop with fused Adam and a
full batch's Fourier features computed once, as nfields does by default, so that both do the same work and the ratio
is the framework's own cost; model.keep_features=false against the loop with fused Adam, the same work again with
the features computed every step; model.steps_per_call=1 against the eager loop; model.compile=step against the
loop with its loss and Adam update compiled; on CUDA the CUDA graph loop), `--repeat N` runs each comparison N
times per lever and prints every ratio.

The two paths are timed in lock-step by default (scripts/bench_alongside.py): the hand-written loop takes as
many steps as nfields after each of nfields' calls, outside nfields' clock, so both see the same seconds of a
machine whose speed drifts. `--sequential` times them one after the other instead (the earlier tables).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# Imported before either path runs, so both run in the environment nfields leaves (Lightning's import sets
# PYTORCH_NVML_BASED_CUDA_CHECK, which nfields.run.train drops where no NVIDIA driver is: run/speed.py).
from nfields.core.io import load_image, square_resize  # noqa: E402
from nfields.run.compose import compose_run_config  # noqa: E402
from nfields.run.train import train  # noqa: E402
from scripts import bench_alongside  # noqa: E402
from scripts.baselines.ffn_loop import HandLoop  # noqa: E402
from scripts.baselines.ffn_loop import train as hand_train  # noqa: E402

# lever -> (the hand-written loop's mode, nfields overrides); "defaults" is what `python train.py` does.
LEVERS = {
    "defaults": ("eager", []),
    # The same work on both sides, the framework's own cost: nfields' defaults against the loop with fused Adam
    # and a full batch's features computed once (nfields' choices), and without them against the fused loop
    "defaults/kept": ("kept", []),
    "keep_features=false": ("fused", ["model.keep_features=false"]),
    "steps_per_call=1": ("eager", ["model.steps_per_call=1"]),
    "compile=step": ("compile_step", ["model.compile=step"]),
    "cuda_graph": ("cuda_graph", ["model.compile=step"]),  # CUDA only: compile=step uses reduce-overhead there
}
CASES = {
    "tiny": {"size": 32, "width": 32, "steps": 1000},
    "batch": {"size": 2048, "batch": 2**20, "overrides": ["data.upsample=true"]},  # astronaut is 512^2
}


def handwritten(
    img: torch.Tensor, steps: int, device: torch.device, width: int = 256, mode: str = "eager", batch: int | None = None
) -> dict[str, float]:
    """The in-repo hand-written loop (scripts/baselines/ffn_loop.py) with one of its modes."""
    return hand_train(img, steps, device, width, mode=mode, batch=batch)


def nfields_run(size: int, steps: int, device: str, task: str, extra: list[str]) -> dict[str, float]:
    trainer = "cpu" if device == "cpu" else "gpu"
    overrides = ["experiment=ffn_bench", f"data.size={size}", f"trainer.max_steps={steps}", f"trainer={trainer}"]
    overrides += [f"task={task}"] if task != "interpolate" else []
    with tempfile.TemporaryDirectory() as d:
        cfg = compose_run_config([*overrides, *extra], Path(d) / "run")
        train(cfg)
        m = json.loads((Path(d) / "run" / "metrics.json").read_text())
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


def time_to_psnr(size: int, steps: int, device: str, target: float, extra: list[str]) -> None:
    """Training seconds until val/psnr first reaches `target` (fit task, validation every 10 steps)."""
    trainer = "cpu" if device == "cpu" else "gpu"
    print(f"# time to {target:g} dB: astronaut {size}^2, fit, full batch, device {device}")
    print(
        "| encoding | steps/s | step reaching target | training s to target | final PSNR (dB) |\n|---|---|---|---|---|"
    )
    for name, enc in ENCODERS.items():
        overrides = [
            "experiment=ffn_bench",
            "task=fit",
            f"data.size={size}",
            f"trainer.max_steps={steps}",
            f"trainer={trainer}",
            "log.val_every_n_steps=10",
            *enc,
            *extra,
        ]
        with tempfile.TemporaryDirectory() as d:
            train(compose_run_config(overrides, Path(d) / "run"))
            m = json.loads((Path(d) / "run" / "metrics.json").read_text())
            hist = json.loads((Path(d) / "run" / "history.json").read_text())["val"]
        hit = next((h["step"] for h in hist if (h.get("val/psnr") or 0) >= target), None)
        sps = m["perf/steps_per_s"]
        to = f"{hit} | {hit / sps:.1f}" if hit else f"not within {steps} | -"
        print(f"| {name} | {sps:.1f} | {to} | {m['val/psnr']:.2f} |")


def paired(
    a: argparse.Namespace, img: torch.Tensor, mode: str, batch: int | None, extra: list[str]
) -> tuple[dict[str, float], dict[str, float]]:
    """One nfields run with the hand-written loop in lock-step (scripts/bench_alongside.py) -> (hand, nfields).
    The hand loop's 5 warm-up steps (and its compilation) come first; it then takes nfields' number of steps."""
    device = torch.device(a.device)
    loop = HandLoop(img, device, a.width, mode, batch)
    t0 = time.perf_counter()
    run = loop.runner()
    for _ in range(5):
        run()
    first = time.perf_counter() - t0
    bench_alongside.PENDING.append(run)
    alongside = f"+callbacks.alongside._target_={bench_alongside.TARGET}"
    ours = nfields_run(a.size, a.steps, a.device, a.task, [*extra, alongside])
    rate = bench_alongside.Alongside.last.steps_per_s
    return {"steps_per_s": rate, "coords": loop.coords, "psnr": loop.psnr(), "startup_s": first}, ours


def compare(
    a: argparse.Namespace, img: torch.Tensor, mode: str, batch: int | None, extra: list[str]
) -> tuple[dict[str, float], dict[str, float]]:
    """The hand-written loop (`mode`) and one nfields run -> (hand, nfields): in lock-step, or one after the
    other with --sequential."""
    if a.sequential:
        hand = handwritten(img, a.steps, torch.device(a.device), a.width, mode, batch)
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--size", type=int, default=None, help="image side (the protocol uses 512)")
    ap.add_argument("--steps", type=int, default=None, help="training steps (default 2000; tiny 1000; batch 20)")
    ap.add_argument("--width", type=int, default=None, help="MLP width of both paths (a small one shows overhead)")
    ap.add_argument("--task", default="interpolate", help="interpolate = the protocol's even/odd split")
    ap.add_argument("--repeat", type=int, default=1, help="alternate the two paths this many times")
    ap.add_argument(
        "--case", choices=["protocol", "tiny", "batch", "time_to_psnr", "collection", "memory"], default="protocol"
    )
    ap.add_argument("--levers", default=None, help=f"comma-separated of {', '.join(LEVERS)}, or all")
    ap.add_argument("--sequential", action="store_true", help="time the two paths one after the other")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads for both paths")
    ap.add_argument("--target", type=float, default=30.0, help="PSNR target of --case time_to_psnr")
    ap.add_argument("--sizes", default="2048,4096,8192", help="image sides of --case memory")
    ap.add_argument("--batches", default="65536", help="coordinates per step of --case memory (comma-separated)")
    ap.add_argument("overrides", nargs="*", help="extra Hydra overrides for the nfields run")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    preset = CASES.get(a.case, {})
    a.size = a.size or preset.get("size", 512 if a.case != "time_to_psnr" else 128)
    a.overrides = [*preset.get("overrides", []), *a.overrides]
    a.width = a.width or preset.get("width", 256)
    a.steps = a.steps or preset.get("steps", 20 if a.case == "batch" else 2000 if a.case != "collection" else 200)
    if a.case == "time_to_psnr":
        return time_to_psnr(a.size, a.steps, a.device, a.target, a.overrides)
    if a.case == "collection":
        from scripts.bench_collection import collection_case

        return collection_case(a.steps, a.device, a.overrides)
    if a.case == "memory":
        from scripts.bench_memory import memory_case

        ints = lambda s: [int(x) for x in s.split(",") if x]  # noqa: E731
        return memory_case(ints(a.sizes), ints(a.batches), a.steps, a.device, a.overrides)
    device = torch.device(a.device)
    batch = preset.get("batch")
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


if __name__ == "__main__":
    main()
