"""Case `video_memory` of scripts/bench.py: the host memory of a whole `python train.py data=video` run on a large
clip, as a multiple of the clip's own uint8 bytes.

    python scripts/bench.py --case video_memory --video ../shared/data/video/bigbuckbunny.mp4 --steps 4
    python scripts/bench.py --case video_memory --video ../shared/data/video/bigbuckbunny.mp4 --frames 20   # shorter

The run (its own process, memory.PROBE) decodes the clip, fits it with --batch random cells a step for --steps
steps, validates, tests and writes its media (panel, prediction.mp4, progress.gif) with a small field (Fourier 16
features into a 2x16 MLP: its activations are bounded by model.render_chunk whatever the field, and a small one
keeps the whole-clip renders short on a CPU). The same command is then run on the clip's first frame alone.
Printed: each run's peak resident memory (VmHWM), the peak of a process that only imports torch and nfields, and
two ratios: (peak - import) / clip bytes, which charges the clip with everything a run holds beyond the imports
(Lightning's trainer, one frame's evaluation, the encoder: what a one-frame run holds too), and
(peak - one-frame peak) / (clip - frame bytes), the memory the clip's length adds: what bounded memory bounds.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path

import av

from nfields.data.video import count_packets

from .common import trainer
from .memory import FIELD, ROOT, peak_memory

BASELINE = """
import json, torch, nfields.run.train, nfields.data.video
hwm = next(x for x in open("/proc/self/status") if x.startswith("VmHWM:"))
print("MEMORY " + json.dumps({"peak_rss_mb": int(hwm.split()[1]) / 1e3}))
"""


def baseline_mb() -> float:
    """Peak resident memory (MB) of a process that imports torch and nfields and does nothing else."""
    proc = subprocess.run([sys.executable, "-c", BASELINE], cwd=ROOT, capture_output=True, text=True, check=True)
    line = next(x for x in proc.stdout.splitlines() if x.startswith("MEMORY "))
    return json.loads(line[len("MEMORY ") :])["peak_rss_mb"]


def clip_shape(path: str) -> tuple[int, int, int, int]:
    """(T, H, W, 3) of the clip data=video decodes, from the file's header (no frame is decoded here)."""
    with av.open(path) as container:
        stream = container.streams.video[0]
        t = stream.frames or count_packets(Path(path))
        return t, stream.codec_context.height, stream.codec_context.width, 3


def run(a: argparse.Namespace) -> None:
    """Case video_memory: one run's peak RSS over the clip's uint8 bytes."""
    if not a.video:
        raise SystemExit("--case video_memory needs --video FILE (e.g. ../shared/data/video/bigbuckbunny.mp4)")
    steps = a.steps or 4
    shape = clip_shape(a.video)
    if a.frames:  # the first --frames frames (data.frames)
        shape = (min(a.frames, shape[0]), *shape[1:])
    clip_mb = math.prod(shape) / 1e6
    base = baseline_mb()
    with tempfile.TemporaryDirectory() as d:

        def peak(frames: int | None) -> float:
            args = ["data=video", f"data.path={a.video}", f"data.frames={frames or 'null'}"]
            args += [f"data.batch_size={a.batch}"]
            args += [*FIELD, f"hydra.run.dir={d}/run{frames or ''}"]
            args += [f"trainer={trainer(a.device)}", f"trainer.max_steps={steps}", f"log.val_every_n_steps={steps}"]
            return peak_memory([*args, *a.overrides])["peak_rss_mb"]

        clip, one = peak(a.frames), peak(1)
    t, h, w, c = shape
    frame_mb = h * w * c / 1e6
    print(f"# video_memory: {a.video}, {t} frames of {h}x{w}x{c}, {steps} steps of {a.batch} random cells, {a.device}")
    print(
        "| clip uint8 (MB) | peak RSS (MB) | one frame's run (MB) | import torch+nfields (MB) "
        "| (peak - import) / clip | (peak - one frame's) / (clip - frame) |"
    )
    print("|---|---|---|---|---|---|")
    added = (clip - one) / (clip_mb - frame_mb) if t > 1 else float("nan")
    print(f"| {clip_mb:.0f} | {clip:.0f} | {one:.0f} | {base:.0f} | {(clip - base) / clip_mb:.2f} | {added:.2f} |")
