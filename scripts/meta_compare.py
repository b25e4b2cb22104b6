"""PSNR against test-time steps on the same unseen images: meta-learned codes, auto-decoder, encoder, from scratch.

    OMP_NUM_THREADS=1 python scripts/meta_compare.py --out multirun/meta_compare            # Fashion-MNIST
    python scripts/meta_compare.py --quick --out /tmp/meta_compare                         # seconds, synthetic data
    python scripts/meta_compare.py --steps 1000 --n-test 512 trainer=gpu --device cuda     # extra overrides

Three collection runs of one field (Fourier features, an MLP, FiLM shift modulations from a 64-number code) go
through nfields' train() exactly as `python train.py` would, one per `model.latent_source` (meta, autodecoder,
encoder), each for --steps training steps; their metrics.json hold `test/psnr_step<k>` (meta) and
`test/psnr_tto<k>` (the others). Then, from each run's checkpoint, the test images get k = 0, 1, 3, 10, 100
test-time steps (meta: its inner SGD steps with the learned step sizes; the others: Adam on the codes,
`model.tto_lr`, the encoder's from its output), each k timed on its own: the seconds per unseen signal are a
whole pass over the test set of k steps and the render, over the number of images. The same test images are
fitted from scratch by a field of the same network without a code (`model=many`, one member per image, full
batch, the single run's defaults) for 1, 3, 10, 100 steps; its time per signal is k steps at the 100-step run's
steps/s over the number of images. Writes <out>/meta_compare.md, .json and .png (PSNR against steps, log x) and
logs them to W&B (offline unless a login exists; --wandb disabled skips it). The "catch-up" line gives the first
TTO step (every step to 100, then every 10th to 300, the same pixel draws as the table's) at which the
auto-decoder and the encoder reach meta's PSNR after its inner steps. --reuse keeps the finished runs in --out
(their metrics.json and checkpoint) and evaluates them again: the tables of a comparison already run.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: figures go to files
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import wandb  # noqa: E402
from omegaconf import DictConfig  # noqa: E402
from pytorch_lightning.utilities import move_data_to_device  # noqa: E402

from nfields.lit.collection import CollectionModule  # noqa: E402
from nfields.lit.tto import decode, frozen, meta_codes, optimize_codes, per_image_psnr  # noqa: E402
from nfields.run.build import build_datamodule, load_checkpoint  # noqa: E402
from nfields.run.compose import CONFIGS, compose_run_config  # noqa: E402
from nfields.run.exits import report_errors  # noqa: E402
from nfields.run.options import check_options  # noqa: E402
from nfields.run.train import train  # noqa: E402

STEPS = (0, 1, 3, 10, 100)  # test-time steps in the table
SCRATCH_STEPS = (1, 3, 10, 100)  # a field from scratch has no meaningful step 0 (its random initialisation)
CATCH_UP = (*range(0, 101), *range(110, 301, 10))  # TTO steps searched for the auto-decoder's catch-up
SOURCES = ("meta", "autodecoder", "encoder")
FIELD = [  # functa's setting at CPU size: shift modulations of a shared field from a 64-number code
    "encoding=fourier",
    "encoding.n_features=64",
    "network=mlp",
    "network.n_neurons=128",
    "cond=film",
    "cond.scale=false",
    "cond.identity_init=false",  # meta refuses zero-initialised code maps (docs/meta.md)
    "model.latent_dim=64",
    "logger=none",
]
DATA = ["data=fashion_mnist"]
QUICK = ["data=synthetic", "debug=fast", "data.n_images=24", "data.size=8", "data.batch_size=4", "data.n_val=4"]
QUICK += ["encoding.n_features=8", "encoding.sigma=3", "network.n_neurons=16", "model.latent_dim=4"]


def collection_overrides(a: argparse.Namespace, source: str) -> list[str]:
    """The train.py overrides of one collection run: the field, the data, one evaluation at the end."""
    field = [*FIELD, *QUICK] if a.quick else [*FIELD, *DATA]
    every = [f"log.val_every_n_steps={a.steps}", f"log.gif_every_n_steps={a.steps}"]
    tto = ["model.tto_steps=100"] if source != "meta" else []
    run = [f"model.latent_source={source}", f"trainer.max_steps={a.steps}", f"data.n_test={a.n_test}", *every]
    return [*field, *run, *tto, *a.overrides]


def seconds(fn: Any, device: torch.device) -> tuple[Any, float, float]:
    """fn(), its wall time (queued GPU work included) and the process's CPU time (on a shared machine the wall
    time also holds other jobs' turns; with one thread the CPU time is what an idle core would take)."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    t, c = time.perf_counter(), time.process_time()
    out = fn()
    sync()
    return out, time.perf_counter() - t, time.process_time() - c


def adapted_psnr(module: CollectionModule, batch: dict, k: int) -> torch.Tensor:
    """(B,) PSNR of a test batch after k test-time steps: meta's inner steps, or Adam on the codes (a seeded
    pixel draw, so the k-step run is the prefix of any longer one)."""
    images, observed = batch["image"], batch["observed"]
    field, source, task = module.field, module.source, module.task
    if source.inner_loop:
        with frozen(field), frozen(source):
            codes, _ = meta_codes(field, source, task, observed, k, first_order=True)  # (B, code_dim)
            with torch.no_grad():
                pred = decode(field, codes.detach(), images.shape[0], tuple(images.shape[1:-1]))
        return per_image_psnr(pred, images)
    torch.manual_seed(0)
    return optimize_codes(
        field, source, task, images, k, module.tto_lr, module.pixels_per_image, observed=observed, at={k}
    ).psnr


def evaluate(ckpt: Path, cfg: DictConfig, device: torch.device) -> dict[str, Any]:
    """PSNR and seconds per signal after each of STEPS, and (not meta) the dense TTO curve of CATCH_UP."""
    module = load_checkpoint(ckpt).to(device)
    dm = build_datamodule(cfg)
    loader = dm.loader("test", dm.eval_batch_size, shuffle=False)
    batches = [move_data_to_device({k: b[k] for k in ("image", "observed")}, device) for b in loader]
    n = sum(b["image"].shape[0] for b in batches)
    for b in batches:  # warm-up: the first calls' one-off costs are nobody's steps
        adapted_psnr(module, b, 1)
    psnr, secs, cpu = {}, {}, {}
    for k in STEPS:
        values, t, c = seconds(lambda k=k: torch.cat([adapted_psnr(module, b, k) for b in batches]), device)
        psnr[k], secs[k], cpu[k] = float(values.mean()), t / n, c / n
    out: dict[str, Any] = {"psnr": psnr, "seconds_per_signal": secs, "cpu_seconds_per_signal": cpu, "n_test": n}
    if not module.source.inner_loop:
        curves = []
        for b in batches:
            torch.manual_seed(0)  # the table's pixel draws: its k-step values are this curve's
            res = optimize_codes(
                module.field, module.source, module.task, b["image"], CATCH_UP[-1], module.tto_lr,
                module.pixels_per_image, observed=b["observed"], at=set(CATCH_UP),
            )  # fmt: skip
            curves.append(np.array([p for _, p in res.curve]) * b["image"].shape[0])
        out["curve"] = dict(zip(CATCH_UP, (sum(curves) / n).tolist(), strict=True))
    return out


COLLECTION_ONLY = ("data", "cond", "model.latent")  # keys the from-scratch fields do not take: no code, own data


def for_scratch(overrides: list[str]) -> list[str]:
    """The overrides a from-scratch run takes: all but those of COLLECTION_ONLY keys (data=, data.*, cond...)."""
    return [o for o in overrides if not o.lstrip("+~").startswith(COLLECTION_ONLY)]


def scratch_overrides(a: argparse.Namespace, npz: Path, k: int) -> list[str]:
    """The from-scratch run of k steps on the saved test images: the collection's network without a code (the
    field's, --quick's and the command line's overrides, each for_scratch, the command line's last)."""
    over = [*for_scratch([*FIELD, *(QUICK if a.quick else [])]), "cond=none", "model=many", "data=image_set"]
    over += [f"data.root={npz}", "data.split=test", "data.size=null", f"trainer.max_steps={k}"]
    over += [f"log.val_every_n_steps={k}", f"log.gif_every_n_steps={k}"]
    return over + for_scratch(a.overrides)


def scratch(a: argparse.Namespace, out: Path, cfg: Any) -> dict[str, Any]:
    """The test images fitted from scratch, one field each (model=many), for each of SCRATCH_STEPS."""
    dm = build_datamodule(cfg)
    images = torch.cat([b["image"] for b in dm.loader("test", dm.eval_batch_size, shuffle=False)])  # (N, H, W, C)
    npz = out / "test_images.npz"
    np.savez(npz, test_data=(images * 255).round().clamp(0, 255).to(torch.uint8).numpy())  # image_set's format
    psnr, rate = {}, None
    for k in SCRATCH_STEPS:
        run_dir = out / f"scratch_{k}"
        cfg = compose_run_config(scratch_overrides(a, npz, k), run_dir)
        if not (a.reuse and finished(run_dir)):
            train(cfg)
        m = json.loads((run_dir / "metrics.json").read_text())
        psnr[k], rate = m["test/psnr"], m.get("perf/steps_per_s") or rate
    n = images.shape[0]
    secs = {k: k / rate / n if rate else None for k in SCRATCH_STEPS}  # the last (longest) run's steps/s
    return {"psnr": psnr, "seconds_per_signal": secs, "n_test": n}


def finished(run_dir: Path) -> bool:
    """A run with its metrics.json and last checkpoint (--reuse keeps it instead of training it again)."""
    return (run_dir / "metrics.json").is_file() and (run_dir / "checkpoints" / "last.ckpt").is_file()


def catch_up(curve: dict[int, float], target: float) -> int | None:
    """The first TTO step whose PSNR reaches `target` (None: not within the curve)."""
    return next((s for s, p in sorted(curve.items()) if p >= target), None)


def table(result: dict[str, Any]) -> str:
    p = result["protocol"]
    head = [f"| method | {' | '.join(f'{k} steps' for k in STEPS)} | train steps/s |", "|---|" + "---|" * 6]
    rows = []
    for name, r in result["methods"].items():
        cells = []
        for k in STEPS:
            v, t, c = r["psnr"].get(k), r["seconds_per_signal"].get(k), r.get("cpu_seconds_per_signal", {}).get(k)
            ms = "; ".join(f"{x * 1e3:.2f}" for x in (t, c) if x is not None)
            cells.append("" if v is None else f"{v:.2f} ({ms})" if ms else f"{v:.2f}")
        rate = r.get("train_steps_per_s")
        rows.append(f"| {name} | {' | '.join(cells)} | {'' if rate is None else f'{rate:.2f}'} |")
    lines = ["Test PSNR (dB) after k test-time steps (milliseconds per unseen signal: wall; CPU); "]
    lines[0] += f"{p['n_test']} test images, "
    lines[0] += f"{p['train_steps']} training steps, {p['data']}, device {p['device']}, threads {p['threads']}.\n"
    lines += [*head, *rows, ""]
    for name, (step, target) in result["catch_up"].items():
        at = f"after {step} TTO steps" if step is not None else f"not within {CATCH_UP[-1]} TTO steps"
        lines.append(f"- {name} reaches meta's {target:.2f} dB ({p['inner_steps']} inner steps) {at}")
    return "\n".join(lines) + "\n"


def plot(result: dict[str, Any], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    for name, r in result["methods"].items():
        dense = r.get("curve")
        ks, vs = zip(*sorted(r["psnr"].items()), strict=True)  # the table's steps: markers
        if dense:  # the TTO curve at every step to the table's last, through them
            ks, vs = zip(*((s, p) for s, p in dense.items() if s <= STEPS[-1]), strict=True)
        ax.plot(ks, vs, "-", label=name, markevery=[i for i, k in enumerate(ks) if k in STEPS], marker="o")
    ax.set_xscale("symlog", linthresh=1)  # log x, with step 0 at the left
    ax.set_xticks(STEPS, [str(k) for k in STEPS])
    ax.set_xlabel("test-time steps")
    ax.set_ylabel("test PSNR (dB)")
    ax.set_title(f"unseen images ({result['protocol']['data']}, {result['protocol']['n_test']} images)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def log_to_wandb(result: dict[str, Any], png: Path, out: Path, mode: str) -> None:
    """One W&B run holding the table (a row per method and step) and the figure."""
    run = wandb.init(project="nfields", name="meta_compare", mode=mode, dir=str(out), config=result["protocol"],
                     job_type="meta_compare", settings=wandb.Settings(silent=True))  # fmt: skip
    rows = [
        [name, k, v, r["seconds_per_signal"].get(k), r.get("cpu_seconds_per_signal", {}).get(k)]
        for name, r in result["methods"].items()
        for k, v in r["psnr"].items()
    ]
    table = wandb.Table(columns=["method", "steps", "psnr", "seconds_per_signal", "cpu_seconds_per_signal"], data=rows)
    run.log({"meta_compare": table, "meta_compare_png": wandb.Image(str(png))})
    run.finish()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("multirun/meta_compare"), help="folder for runs and tables")
    ap.add_argument("--steps", type=int, default=None, help="training steps of each collection run (300; quick 20)")
    ap.add_argument("--n-test", type=int, default=None, help="unseen test images (256; quick 4)")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    ap.add_argument("--device", default="cpu", help="where the checkpoints are evaluated and timed")
    ap.add_argument("--wandb", default=os.environ.get("WANDB_MODE", "offline"), help="offline | online | disabled")
    ap.add_argument("--quick", action="store_true", help="a tiny synthetic collection (seconds; the test's)")
    ap.add_argument("--reuse", action="store_true", help="keep finished runs in --out (same settings): re-table")
    ap.add_argument("overrides", nargs="*", help="train.py overrides (from scratch: not data, cond, latent)")
    a = ap.parse_args(argv)
    a.steps = a.steps if a.steps is not None else 20 if a.quick else 300
    a.n_test = a.n_test if a.n_test is not None else 4 if a.quick else 256
    if a.steps < 1 or a.n_test < 1:
        ap.error(f"--steps and --n-test must be >= 1, got {a.steps} and {a.n_test}")
    check_options(a.overrides, CONFIGS)  # an unknown option or key: one line, as train.py gives it
    return a


def main(argv: list[str] | None = None) -> dict[str, Any]:
    a = parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    a.out.mkdir(parents=True, exist_ok=True)
    device = torch.device(a.device)
    methods, inner, cfg = {}, None, None
    # every run's config composed before any training: a bad override is one line now, not after the first runs
    for source in SOURCES:
        compose_run_config(collection_overrides(a, source), a.out / source)
    compose_run_config(scratch_overrides(a, a.out / "test_images.npz", 1), a.out / "scratch_1")
    for source in SOURCES:
        cfg = compose_run_config(collection_overrides(a, source), a.out / source)
        if not (a.reuse and finished(a.out / source)):
            train(cfg)
        r = evaluate(a.out / source / "checkpoints" / "last.ckpt", cfg, device)
        r["train_steps_per_s"] = json.loads((a.out / source / "metrics.json").read_text()).get("perf/steps_per_s")
        inner = cfg.model.inner_steps if source == "meta" else inner
        methods["meta" if source == "meta" else f"{source} (TTO, Adam)"] = r
    methods["from scratch (one field each)"] = scratch(a, a.out, cfg)
    target = methods["meta"]["psnr"][inner] if inner in STEPS else None
    protocol = {"data": "synthetic" if a.quick else "fashion_mnist", "train_steps": a.steps, "inner_steps": inner}
    protocol |= {"n_test": methods["meta"]["n_test"], "device": str(device), "threads": torch.get_num_threads()}
    result = {"protocol": protocol, "methods": methods, "catch_up": {}}
    for name, r in methods.items():
        if "curve" in r and target is not None:
            result["catch_up"][name] = (catch_up(r["curve"], target), target)
    (a.out / "meta_compare.json").write_text(json.dumps(result, indent=1) + "\n")
    md = a.out / "meta_compare.md"
    md.write_text(table(result))
    png = plot(result, a.out / "meta_compare.png")
    if a.wandb != "disabled":
        log_to_wandb(result, png, a.out, a.wandb)
    print(f"{md.read_text()}\ntable: {md}\nfigure: {png}")
    return result


if __name__ == "__main__":
    report_errors(main)
