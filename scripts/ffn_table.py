"""Tancik et al. 2020, Table 1, in one command: search on train, table on test, the hand-written reference beside.

    python scripts/ffn_table.py --root /path/to/ffn                       # the paper's protocol (a GPU)
    python scripts/ffn_table.py --root /path/to/ffn --size 128 --steps 500 --images 4 --search --reference  # CPU

--root holds the paper's two sets, div2k/{train,test}/*.png and text/{train,test}/*.png. For each set:
  1. with --search, `python train.py experiment=ffn_<set> hparams_search=ffn_sigma` and `=ffn_scale` on the
     train split choose the Gaussian sigma and the positional scale (the paper's values otherwise);
  2. `python train.py experiment=ffn_<set>` runs the table on the test split with them (ffn_table.md in its
     multirun directory);
  3. with --reference, scripts/baselines/ffn_reference.py runs the same cells by hand (no nfields code).
<out>/ffn_table.md gathers nfields, the reference, their difference and the paper's value per cell.
This script is the command line and the runs; the tables and figures are nfields/analysis/ffn_table.py's.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import yaml

from nfields.analysis.ffn_table import PAPER_IMAGES, PAPER_SIZE, PAPER_STEPS, combined

ROOT = Path(__file__).resolve().parents[1]  # the checkout: its train.py and scripts/baselines/

SETS = ("div2k", "text")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--root", type=Path, required=True, help="folder with div2k/ and text/ (the paper's images)")
    p.add_argument("--sets", default="div2k,text", help="comma-separated subset of div2k,text")
    p.add_argument("--size", type=int, default=None, help="area-downsample the 512^2 images (reduced mode)")
    p.add_argument("--steps", type=int, default=2000, help="full-batch Adam steps (paper: 2000)")
    p.add_argument("--images", type=int, default=16, help="the first N images of each split (paper: 16)")
    p.add_argument("--search", action="store_true", help="choose sigma and scale on the train split first")
    p.add_argument("--sigmas", default=None, help="the sigma grid of --search, e.g. 1,2,4,8 (default: the config's)")
    p.add_argument("--scales", default=None, help="the positional scale grid of --search (default: the config's)")
    p.add_argument("--reference", action="store_true", help="also run the hand-written reference")
    p.add_argument("--out", type=Path, default=None, help="output folder (default multirun/ffn_table/<mode>)")
    p.add_argument("overrides", nargs="*", help="extra train.py overrides for every run, e.g. trainer=gpu")
    a = p.parse_args(argv)
    a.sets = [s for s in a.sets.split(",") if s]
    if not a.sets or set(a.sets) - set(SETS):
        p.error(f"--sets must be a comma-separated subset of {','.join(SETS)}, got {','.join(a.sets)!r}")
    for key in ("steps", "images"):
        if getattr(a, key) < 1:
            p.error(f"--{key} must be >= 1, got {getattr(a, key)}")
    if a.size is not None and (a.size < 2 or 512 % a.size):
        p.error(f"--size must divide 512 (block means of whole pixels), got {a.size}")
    for s in a.sets:
        if not (a.root / s / "test").is_dir():
            p.error(f"--root {a.root}: no {s}/test/ folder; point it at your copy of the paper's images")
    paper = a.size in (None, PAPER_SIZE) and a.steps == PAPER_STEPS and a.images == PAPER_IMAGES
    mode = "paper" if paper else "reduced"
    a.out = a.out or ROOT / "multirun" / "ffn_table" / f"{mode}_{a.size or 512}px_{a.steps}steps_{a.images}img"
    return a


def train(a: argparse.Namespace, image_set: str, sweep: Path, extra: list[str]) -> Path:
    """One `python train.py experiment=ffn_<set>` multirun into `sweep`; returns it."""
    cmd = [sys.executable, str(ROOT / "train.py"), f"experiment=ffn_{image_set}", f"data.root={a.root / image_set}"]
    cmd += [f"data.limit={a.images}", f"trainer.max_steps={a.steps}"]  # the first N images, as members of one run
    cmd += ([f"data.size={a.size}"] if a.size else []) + [f"hydra.sweep.dir={sweep}", *extra, *a.overrides]
    print(f"$ {' '.join(cmd[1:])}", flush=True)
    proc = subprocess.run(cmd, cwd=ROOT, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"train.py failed ({image_set}):\n{proc.stderr[-3000:]}")
    return sweep


def searched(a: argparse.Namespace, image_set: str) -> dict[str, float]:
    """protocol.sigma and protocol.scale chosen on the train split (--search), else the paper's."""
    if not a.search:
        return {}
    best = {}
    for what, grid in (("sigma", a.sigmas), ("scale", a.scales)):
        extra = [f"hparams_search=ffn_{what}"] + ([f"protocol.{what}={grid}"] if grid else [])
        sweep = train(a, image_set, a.out / image_set / f"search_{what}", extra)
        best[f"protocol.{what}"] = json.loads((sweep / "ffn_search.json").read_text())["best"]
    return best


def reference(a: argparse.Namespace, image_set: str, cfg: dict) -> dict:
    """The hand-written reference on the same images with the same settings as the nfields table."""
    p = cfg["protocol"]
    out = a.out / image_set / "reference.json"
    cmd = [sys.executable, str(ROOT / "scripts" / "baselines" / "ffn_reference.py"), "--root", str(a.root / image_set)]
    cmd += ["--limit", str(a.images), "--steps", str(a.steps), "--scale", str(p["scale"]), "--sigma", str(p["sigma"])]
    cmd += ["--lr", ",".join(f"{k}={v}" for k, v in p["lr"].items()), "--json", str(out)]
    cmd += ["--size", str(a.size)] if a.size else []
    print(f"$ {' '.join(cmd[1:])}", flush=True)
    subprocess.run(cmd, check=True, stdin=subprocess.DEVNULL, capture_output=True)
    return json.loads(out.read_text())


def main(argv: list[str] | None = None) -> Path:
    a = parse_args(argv)
    command = "python scripts/ffn_table.py " + " ".join(argv if argv is not None else sys.argv[1:])
    t0, results, refs = time.perf_counter(), {}, {}
    for s in a.sets:
        best = searched(a, s)
        sweep = train(a, s, a.out / s / "table", [f"{k}={v}" for k, v in best.items()])
        results[s] = json.loads((sweep / "ffn_table.json").read_text())
        if a.reference:
            cfg = yaml.safe_load((sweep / "0" / ".hydra" / "config.yaml").read_text())
            cfg["protocol"].update({k.split(".")[1]: v for k, v in best.items()})
            refs[s] = reference(a, s, cfg)
    md = combined(results, refs, time.perf_counter() - t0, command.strip())
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "ffn_table.md").write_text(md)
    print(md + f"\ntable: {a.out / 'ffn_table.md'}")
    return a.out / "ffn_table.md"


if __name__ == "__main__":
    main()
