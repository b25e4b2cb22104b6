"""Benchmark nfields against hand-written PyTorch in one process: every case, one entry point.

    python scripts/bench.py --device cpu --size 128 --steps 300      # CPU, reduced protocol
    python scripts/bench.py --device cuda                            # the full protocol on a GPU
    python scripts/bench.py --case tiny --device cpu --repeat 3 --levers all   # 32^2, 4x32 MLP: ~1 ms steps
    python scripts/bench.py --case batch --device cpu --width 32 --steps 20    # 2048^2, 2^20 random coords a step
    python scripts/bench.py --case time_to_psnr --size 128 --steps 500   # hashgrid vs fourier to 30 dB
    python scripts/bench.py --case collection --device cpu --steps 200   # images/s: concat, film, hypernet
    python scripts/bench.py --case memory --sizes 2048,8192 --steps 20    # peak memory on very large images
    python scripts/bench.py --case many --device cpu                      # model=many against loops of single fits
    python scripts/bench.py --case many_protocol --device cuda --root <ffn>/div2k/test --size 512 --loop-images 4
    python scripts/bench.py --case eikonal --device cpu --threads 1 --repeat 3    # a double backward a step
    python scripts/bench.py --case grid_paths --device cpu --threads 1           # encoding=grid: grid_sample, gathers
    python scripts/bench.py --case video --device cpu --repeat 3          # a video, 2^16 random cells a step
    python scripts/bench.py --case video_memory --video ../shared/data/video/bigbuckbunny.mp4   # host memory
    python scripts/bench.py --case meta --device cpu --threads 1         # meta's outer step against a loop

Each case prints its rates beside its hand-written baseline's (scripts/baselines/, plain PyTorch) and their ratio.
Trailing arguments are Hydra overrides for every nfields run of the case. The cases live in scripts/benchcases/:

protocol, tiny, batch (protocol.py). The Fourier-features protocol (Tancik et al. 2020): astronaut at --size^2,
train on the even grid, test on the odd grid; 4x256 ReLU MLP (sigmoid out) on 256 Gaussian Fourier features
(sigma 10), Adam lr 1e-3, full batch. nfields runs `experiment=ffn_bench` through the same `train()` as
`python train.py` (steps/s from metrics.json: start-up and validation excluded); the hand-written loop is
scripts/baselines/ffn_loop.py. Prints steps/s, coordinates/s, test PSNR and the ratio nfields / hand-written.
`tiny` is the protocol at 32^2 with a 4x32 MLP (256 coordinates, a step of about 1 ms: the regime where framework
overhead shows); `batch` is 2048^2 with 2^20 random coordinates of the even grid a step (`data.batch_size`; the
hand-written loop draws the same number on the device). `--levers` runs each speed lever on both sides
(protocol.LEVERS: defaults; defaults against the loop with fused Adam and a full batch's Fourier features computed
once, as nfields does by default, at the loop's constant rate (model.scheduler=null), so that both do the same work
and the ratio is the framework's own cost (the same-work levers below set it too);
model.keep_features=false against the loop with fused Adam, the features computed every step;
model.steps_per_call=1 against the eager loop; model.compile=step against the loop with its loss and Adam update
compiled; on CUDA the CUDA graph loop); `--repeat N` runs each comparison N times and prints every ratio. The
two paths are timed in lock-step (alongside.py): the hand-written loop takes as many steps as nfields after each
of nfields' calls, outside nfields' clock, so both see the same seconds of a machine whose speed drifts;
`--sequential` times them one after the other instead.

time_to_psnr (protocol.py): training seconds to --target dB, Fourier features + 4x256 MLP against a hash grid +
3x64 MLP (task=fit, validation every 10 steps).

collection (collection.py): images/s of concat, film and hypernet conditioning on Fashion-MNIST (autodecoder
codes), nfields' train() against a plain loop over the very same field.

memory (memory.py): peak memory of `python train.py` (each in its own process) on astronaut upscaled to each of
--sizes, random batches of --batches coordinates, model.compact_pixels false and true.

video (video.py): a video fitted with --batch random cells a step from its uint8 clip (data=video's defaults),
nfields' train() against scripts/baselines/video_loop.py in lock-step; the clip is generated (--frames x --size^2)
unless --video names a file (e.g. ../shared/data/video/bikes.mp4).

video_memory (video_memory.py): the peak host memory of a whole `python train.py data=video` run on --video (a few
steps of --batch random cells, validation, test and media), less an import of torch and nfields, over the clip's
uint8 bytes.

many_tiny, many_small, many_protocol; many: all three (many.py). M images fitted three ways, images x steps per
second: one model=many run, a loop of single-image runs, and a hand-written loop over the images; the hand-written
fits also in lock-step with the many run.

eikonal (eikonal.py): steps/s of an eikonal step (f and grad f with create_graph, a loss on |grad f|, backward,
Adam) of a 3x256 SIREN on 3-D points through nfields' field against a hand-written SIREN with the same weights.
grid_paths (eikonal.py): encoding=grid's plain step through F.grid_sample and through its gathers (milliseconds).

meta (meta.py): one outer step of model.latent_source=meta (second order, 3 inner steps) on --signals (64) signals,
the module's batched inner loop against a hand-written Python loop over the signals on the same batch and weights,
and the ceiling (the same batched step in plain torch), alternating step by step; steps/s, signals/s, ratios.
"""

from __future__ import annotations

import argparse

import torch
from benchcases import collection, eikonal, many, memory, meta, protocol, video, video_memory

CASES = {
    **dict.fromkeys(protocol.PRESETS, protocol.run),
    "time_to_psnr": protocol.time_to_psnr,
    "collection": collection.run,
    "memory": memory.run,
    **dict.fromkeys([f"many_{name}" for name in many.PRESETS], many.run),
    "many": many.run,
    "eikonal": eikonal.run,
    "grid_paths": eikonal.grid_paths,
    "video": video.run,
    "video_memory": video_memory.run,
    "meta": meta.run,
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--case", choices=CASES, default="protocol")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--steps", type=int, default=None, help="training steps (default: the case's)")
    ap.add_argument("--size", type=int, default=None, help="image side (default: the case's; the protocol's 512)")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads for both paths")
    ap.add_argument("overrides", nargs="*", help="extra Hydra overrides for the nfields runs")
    p = ap.add_argument_group("protocol, tiny, batch")
    p.add_argument("--width", type=int, default=None, help="MLP width of both paths (a small one shows overhead)")
    p.add_argument("--task", default="interpolate", help="interpolate = the protocol's even/odd split")
    p.add_argument("--repeat", type=int, default=1, help="run each comparison this many times")
    p.add_argument("--levers", default=None, help=f"comma-separated of {', '.join(protocol.LEVERS)}, or all")
    p.add_argument("--sequential", action="store_true", help="time the two paths one after the other")
    ap.add_argument_group("time_to_psnr").add_argument("--target", type=float, default=30.0, help="PSNR (dB)")
    m = ap.add_argument_group("memory")
    m.add_argument("--sizes", default="2048,4096,8192", help="image sides (comma-separated)")
    m.add_argument("--batches", default="65536", help="coordinates per step (comma-separated)")
    v = ap.add_argument_group("video, video_memory")
    v.add_argument("--video", default=None, help="a video file (video: default a generated clip)")
    v.add_argument("--frames", type=int, default=None, help="frames of the clip (generated: 32)")
    v.add_argument("--batch", type=int, default=2**16, help="random cells per step")
    g = ap.add_argument_group("many, many_tiny, many_small, many_protocol")
    g.add_argument("--members", type=int, default=None, help="images (members); default: the case's")
    g.add_argument("--loop-images", type=int, default=4, help="single-image nfields runs timed (a rate per image)")
    g.add_argument("--root", default=None, help="a folder (or .npz) of images instead of skimage crops")
    eikonal.add_arguments(ap)
    meta.add_arguments(ap)
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    a = parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    CASES[a.case](a)


if __name__ == "__main__":
    main()
