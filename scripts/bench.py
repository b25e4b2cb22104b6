"""Benchmark nfields's own training path against a plain hand-written PyTorch loop, in one process.

    python scripts/bench.py --device cpu --size 128 --steps 300      # CPU, reduced protocol
    python scripts/bench.py --device cuda                            # the full protocol on a GPU
    python scripts/bench.py --case time_to_psnr --size 128 --steps 500   # hashgrid vs fourier to 30 dB
    python scripts/bench.py --case collection --device cpu --steps 200   # images/s: concat, film, hypernet
    python scripts/bench.py --case memory --sizes 2048,8192 --steps 20    # peak memory on very large images

Case `protocol` (Tancik et al. 2020): astronaut at --size^2, train on the even grid, test on the
odd grid; 4x256 ReLU MLP (sigmoid out) on 256 Gaussian Fourier features (sigma 10), Adam lr 1e-3,
full batch. nfields runs `experiment=ffn_bench` through the same `train()` as `python train.py`
(steps/s from metrics.json: start-up and validation excluded); the hand-written loop is
scripts/baselines/ffn_loop.py (timed after 5 warm-up steps). Prints steps/s, coordinates/s, test PSNR
and the ratio nfields / hand-written.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nfields.core.io import load_image, square_resize  # noqa: E402
from scripts.baselines.ffn_loop import train as hand_train  # noqa: E402


def handwritten(img: torch.Tensor, steps: int, device: torch.device, width: int = 256) -> dict[str, float]:
    """The in-repo hand-written loop (scripts/baselines/ffn_loop.py), eager."""
    return hand_train(img, steps, device, width, mode="eager")


def nfields_run(size: int, steps: int, device: str, task: str, extra: list[str]) -> dict[str, float]:
    from nfields.run.compose import compose_run_config
    from nfields.run.train import train

    trainer = "cpu" if device == "cpu" else "gpu"
    overrides = ["experiment=ffn_bench", f"data.size={size}", f"trainer.max_steps={steps}", f"trainer={trainer}"]
    overrides += [f"task={task}"] if task != "interpolate" else []
    with tempfile.TemporaryDirectory() as d:
        cfg = compose_run_config([*overrides, *extra], Path(d) / "run")
        train(cfg)
        m = json.loads((Path(d) / "run" / "metrics.json").read_text())
    n = (size // 2) ** 2 if task == "interpolate" else size**2
    return {"steps_per_s": m["perf/steps_per_s"], "coords": n, "psnr": m["test/psnr"]}


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
    from nfields.run.compose import compose_run_config
    from nfields.run.train import train

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


def row(name: str, r: dict[str, float]) -> str:
    return f"| {name} | {r['steps_per_s']:.1f} | {r['steps_per_s'] * r['coords'] / 1e6:.2f} | {r['psnr']:.2f} |"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--size", type=int, default=512, help="image side (the protocol uses 512)")
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--width", type=int, default=256, help="MLP width of both paths (a small one shows overhead)")
    ap.add_argument("--task", default="interpolate", help="interpolate = the protocol's even/odd split")
    ap.add_argument("--repeat", type=int, default=1, help="alternate the two paths this many times")
    ap.add_argument("--case", choices=["protocol", "time_to_psnr", "collection", "memory"], default="protocol")
    ap.add_argument("--target", type=float, default=30.0, help="PSNR target of --case time_to_psnr")
    ap.add_argument("--sizes", default="2048,4096,8192", help="image sides of --case memory")
    ap.add_argument("--batches", default="65536", help="coordinates per step of --case memory (comma-separated)")
    ap.add_argument("overrides", nargs="*", help="extra Hydra overrides for the nfields run")
    a = ap.parse_args()
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
    img = square_resize(load_image("astronaut"), a.size)
    print(f"# protocol: astronaut {a.size}^2, {a.steps} steps, width {a.width}, device {device}", end="")
    print(f", torch {torch.__version__}")
    print("| path | steps/s | Mcoord/s | test PSNR (dB) |\n|---|---|---|---|")
    ratios = []
    for _ in range(a.repeat):
        hand = handwritten(img, a.steps, device, a.width)
        ours = nfields_run(a.size, a.steps, a.device, a.task, [f"network.n_neurons={a.width}", *a.overrides])
        print(row("hand-written loop", hand))
        print(row("nfields train.py", ours))
        ratios.append(ours["steps_per_s"] / hand["steps_per_s"])
    print(f"\nratio nfields / hand-written steps/s: {', '.join(f'{r:.3f}' for r in ratios)}")


if __name__ == "__main__":
    main()
