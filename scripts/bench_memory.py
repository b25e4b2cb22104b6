"""Benchmark case `memory` of scripts/bench.py: peak memory of `python train.py` on very large images.

    python scripts/bench.py --case memory --device cpu --sizes 2048,4096,8192 --batches 65536

Each size (and batch) runs `python train.py` in its own process: astronaut upscaled to size^2, fit
with random batches of --batches coordinates, a small field (fourier 16 features, MLP 2x16, so the
network's activations are negligible and what scales is the framework's), validation and test
rendering the whole image in chunks of model.render_chunk. The process reports its peak resident
memory (and, on a GPU, torch.cuda.max_memory_allocated) next to the image's own float32 size.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROBE = """
import json, resource, runpy, sys
sys.argv = ["train.py", *json.loads(sys.argv[1])]
runpy.run_path("train.py", run_name="__main__")
out = {"peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6}
import torch
if torch.cuda.is_available():
    out["cuda_peak_gb"] = torch.cuda.max_memory_allocated() / 1e9
print("MEMORY " + json.dumps(out))
"""
FIELD = ["encoding.n_features=16", "network.n_neurons=16", "network.n_hidden_layers=2", "logger=none"]


def peak_memory(size: int, batch: int, steps: int, device: str, extra: list[str]) -> dict[str, float]:
    trainer = "cpu" if device == "cpu" else "gpu"
    with tempfile.TemporaryDirectory() as d:
        args = [f"data.size={size}", "validate.allow_large=true", f"data.batch_size={batch}", *FIELD]
        args += [f"trainer={trainer}", f"trainer.max_steps={steps}", f"log.val_every_n_steps={steps}"]
        args += [f"hydra.run.dir={d}/run", *extra]
        proc = subprocess.run(
            [sys.executable, "-c", PROBE, json.dumps(args)], cwd=ROOT, capture_output=True, text=True, timeout=3600
        )
        if proc.returncode != 0:
            raise RuntimeError(f"train.py failed at size {size}: {proc.stderr[-2000:]}")
        line = next(x for x in proc.stdout.splitlines() if x.startswith("MEMORY "))
        return json.loads(line[len("MEMORY ") :])


def memory_case(sizes: list[int], batches: list[int], steps: int, device: str, extra: list[str]) -> None:
    print(f"# memory: fit astronaut upscaled, {steps} steps of random batches, device {device}")
    gpu = device != "cpu"
    cols = "| size | batch | image float32 (GB) | peak RSS (GB) |" + (" CUDA peak (GB) |" if gpu else "")
    print(cols + "\n" + "|---" * (5 if gpu else 4) + "|")
    for size in sizes:
        for batch in batches:
            m = peak_memory(size, batch, steps, device, extra)
            row = f"| {size}² | {batch:,} | {size * size * 3 * 4 / 1e9:.2f} | {m['peak_rss_gb']:.2f} |"
            print(row + (f" {m.get('cuda_peak_gb', float('nan')):.2f} |" if gpu else ""), flush=True)
