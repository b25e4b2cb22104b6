"""The papers' non-image experiments against their hand-written references (scripts/baselines/siren_audio.py,
siren_video.py, occupancy.py): the references' own conventions on generated signals (fast), and, when
../shared/data holds the papers' files, nfields' presets in reduced mode against the references run with the same
settings (slow): the mean test PSNR over SEEDS within 0.3 dB (occupancy: the mean IoU at 0.5 within 0.01).

NFIELDS_SHARED_DATA points at another copy of the data folder (default: ../shared/data beside the checkout)."""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from nfields.core.coords import cell_grid
from nfields.fields.encodings.positional import Positional
from nfields.run.build import build_field
from nfields.run.train import train

BASELINES = Path(__file__).resolve().parents[1] / "scripts" / "baselines"
sys.path.insert(0, str(BASELINES))  # the references import their sibling siren_net as a top-level module

import occupancy  # noqa: E402
import siren_audio  # noqa: E402
import siren_video  # noqa: E402
from siren_net import LogLinear, NerfEncoding, ReluMLP, Siren, nerf_frequencies  # noqa: E402

SHARED = Path(os.environ.get("NFIELDS_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
BACH, BIKES, DRAGON = SHARED / "audio" / "gt_bach.wav", SHARED / "video" / "bikes.mp4", SHARED / "volume" / "dragon.npy"
COUNTING = SHARED / "audio" / "gt_counting.wav"
# The comparisons train 3 seeds on each side, SIREN's audio 5 (about 75 CPU minutes; the audio's, 2 clips x 2
# models, are 32 fits of about 100 CPU seconds): a reproduction, not a unit test, so they run when asked
# (NFIELDS_REPRO=1) and keep the default test run within its 10 minutes.
REPRO = pytest.mark.skipif(os.environ.get("NFIELDS_REPRO") != "1", reason="a reproduction: NFIELDS_REPRO=1 runs it")
SEEDS = (0, 1, 2)  # the reduced fits differ by ~0.5 dB from seed to seed: means over seeds are compared
SIREN_AUDIO_SEEDS = (0, 1, 2, 3, 4)  # SIREN on counting spreads 1.3 dB over seeds: 3-seed means fall 0.37 dB apart
PSNR_TOL, IOU_TOL = 0.3, 0.01
GAP_DB = 10.0  # SIREN's audio figure: every SIREN fit at least this far above every ReLU + positional encoding fit


def test_cells_mode_is_nfields_coordinates() -> None:
    """--grid cells feeds exactly nfields' coordinates (c = 2u - 1 of cell_grid, same order) on every domain."""
    n, video, volume = 37, (3, 5, 7), (4, 6, 5)
    assert torch.equal(siren_audio.coordinates(n, "cells", "notebook"), cell_grid((n,)) * 2 - 1)
    assert torch.allclose(siren_video.grid_coords(video, "cells"), cell_grid(video).reshape(-1, 3) * 2 - 1)
    assert torch.allclose(occupancy.coordinates(volume, "cells"), cell_grid(volume).reshape(-1, 3) * 2 - 1)


def test_paper_grids() -> None:
    """The papers' grids: SIREN's audio linspace(-100, 100) (script) or (-1, 1); SIREN's video (frame, row, column)
    on index / (n - 1); the benchmark's corners linspace(-1, 1, n, endpoint=False) ordered (axis 1, axis 0, axis 2)."""
    a = siren_audio.coordinates(11, "paper", "script")[:, 0]
    assert a[0] == -100 and a[-1] == 100 and torch.allclose(a[1:] - a[:-1], torch.full((10,), 20.0))
    v = siren_video.grid_coords((3, 4, 5), "paper").reshape(3, 4, 5, 3)
    assert torch.allclose(v[:, 0, 0, 0], torch.tensor([-1.0, 0.0, 1.0]))  # coordinate 0: the frame
    assert torch.allclose(v[0, 0, :, 2], torch.linspace(-1, 1, 5))  # coordinate 2: the column
    o = occupancy.coordinates((4, 2, 8), "paper").reshape(4, 2, 8, 3)
    assert torch.allclose(o[:, 0, 0, 1], torch.tensor([-1.0, -0.5, 0.0, 0.5]))  # coordinate 1: axis 0, corners
    assert torch.allclose(o[0, :, 0, 0], torch.tensor([-1.0, 0.0]))  # coordinate 0: axis 1
    assert torch.allclose(o[0, 0, :, 2], torch.arange(8) / 4 - 1)  # coordinate 2: axis 2


@pytest.mark.parametrize("budget", [1e4, 3e4, 1e5])
def test_benchmark_sizes_fit_their_budget(budget: float) -> None:
    """calc_layer_width: the widest SIREN whose count (4 sine layers and a head) stays within the budget; the grid
    the largest cube within it."""
    w = occupancy.calc_layer_width(3, 3, 1, budget)

    def count(width: int) -> int:  # 3 -> width, 3 x (width -> width), width -> 1, with biases
        return 4 * width + 3 * (width + 1) * width + width + 1

    assert sum(p.numel() for p in occupancy.siren(budget).parameters()) == count(w)
    assert count(w) <= budget < count(w + 1)
    r = occupancy.Grid(budget).grid.shape[-1]
    assert r**3 <= budget < (r + 1) ** 3


def test_siren_init_and_heads() -> None:
    """SIREN's init: first layer U(-1/in, 1/in), later weights within sqrt(6/n)/w; a sine head bounds the output."""
    torch.manual_seed(0)
    net = Siren(3, 64, n_sine=4, out_dim=2, first_omega=90.0, hidden_omega=90.0, sine_head=True)
    assert net.layers[0].weight.abs().max() <= 1 / 3
    for lin in [*net.layers[1:], net.head]:
        assert lin.weight.abs().max() <= math.sqrt(6 / lin.in_features) / 90
    y = net(torch.rand(100, 3) * 2 - 1)
    assert y.shape == (100, 2) and y.abs().max() <= 1


AUDIO_MODELS = {
    "siren": {"model": "siren", "first": "notebook"},
    "relu_pe paper": {"model": "relu_pe", "pe": "nerf", "init": "paper", "grid": "paper"},
    "relu_pe nfields": {"model": "relu_pe", "pe": "tancik", "init": "torch"},
}


@pytest.mark.parametrize("name", list(AUDIO_MODELS))
def test_audio_reference_learns(name: str) -> None:
    t = np.linspace(0, 1, 400, dtype=np.float32)
    clip = 0.8 * np.sin(2 * np.pi * 7 * t * (1 + t))  # a chirp in [-1, 1]
    # --pe tancik's default top frequency is NeRF's, far above a 400-sample clip's Nyquist: 16 up to 31 cycles here
    size = {"n_features": 16, "scale": 5.0} if AUDIO_MODELS[name].get("pe") == "tancik" else {}
    model = {"grid": "cells", **AUDIO_MODELS[name], **size, "width": 32}
    before = siren_audio.fit(clip, 0, **model)
    after = siren_audio.fit(clip, 100, lr=1e-3, **model)
    assert after["psnr"] > before["psnr"] + 5


def test_nerf_encoding_is_the_papers() -> None:
    """PosEncodingNeRF: the coordinate, then sin and cos of 2^i pi c for i < floor(log2(N / 4)) (N the samples)."""
    for n in (100, 22050, 308207, 537936):
        assert nerf_frequencies(n) == math.floor(math.log2(n / 4))
    c = siren_audio.coordinates(50, "paper", "script")  # (50, 1) in [-100, 100], SIREN's audio wrapper
    enc = NerfEncoding(1, 3)
    f = enc(c)
    octaves = torch.tensor([1.0, 2.0, 4.0]) * math.pi * c  # (50, 3)
    assert f.shape == (50, enc.out_dim) == (50, 7)
    assert torch.equal(f[:, 0], c[:, 0])
    assert torch.allclose(f[:, 1::2], torch.sin(octaves), atol=1e-5)
    assert torch.allclose(f[:, 2::2], torch.cos(octaves), atol=1e-5)


def test_tancik_mode_is_nfields_positional() -> None:
    """--pe tancik is nfields' encoding=positional on nfields' coordinates: the same features, bit for bit; its
    default size is NeRF's (L + 1 frequencies up to 100 2^(L - 1) cycles)."""
    n = 22050
    k, scale = siren_audio.tancik_settings(n)
    assert k == nerf_frequencies(n) + 1 and abs(2**scale - 1 - 100 * 2 ** (k - 2)) / 2**scale < 1e-3
    net, u = siren_audio.build(n, model="relu_pe", pe="tancik", grid="cells")
    assert torch.equal(u, cell_grid((n,)))
    assert torch.equal(net[0](u), Positional(n_features=k, scale=scale, in_dim=1)(u))
    g = cell_grid((5, 7)).reshape(-1, 2)
    assert torch.equal(LogLinear(2, 4, 3.5)(g), Positional(n_features=8, scale=3.5, in_dim=2)(g))


def test_relu_preset_is_the_reference_size(make_cfg) -> None:
    """experiment=siren_audio_relu on a crop builds the reference's --model relu_pe --pe tancik network: the same
    widths, so the same number of parameters; its inits draw the same distributions (nn.Linear's)."""
    k, scale = siren_audio.tancik_settings(22050)
    cfg = make_cfg("experiment=siren_audio_relu", f"encoding.n_features={k}", f"encoding.scale={scale}")
    field = build_field(cfg, out_dim=1, in_dim=1)
    net, _ = siren_audio.build(22050, model="relu_pe", pe="tancik", init="torch", grid="cells")
    assert isinstance(net[1], ReluMLP) and field.encoding.out_dim == net[0].out_dim == 2 * k
    assert sum(p.numel() for p in field.parameters()) == sum(p.numel() for p in net.parameters())
    assert torch.equal(field.encoding.B, net[0].B)


def test_video_reference_learns_and_interpolates() -> None:
    g = cell_grid((6, 8, 8))  # (T, H, W, 3): a moving colour pattern
    clip = ((torch.sin(3 * g + g[..., 2:] * 4) + 1) / 2 * 255).round().to(torch.uint8)
    before = siren_video.fit(clip, 0, width=32, batch=128)
    after = siren_video.fit(clip, 100, width=32, batch=128, lr=1e-3)
    assert after["psnr"] > before["psnr"] + 5
    up = siren_video.fit(clip, 5, width=32, batch=128, interpolate=True)  # frames 1 and 3 scored, never trained on
    truth = clip.float() / 255
    averaged = ((truth[[0, 2]] + truth[[2, 4]]) / 2 - truth[[1, 3]]).pow(2).mean().item()
    assert up["psnr_odd_frame_averaging"] == pytest.approx(-10 * math.log10(averaged), abs=1e-4)
    assert math.isfinite(up["psnr_odd"])


@pytest.mark.parametrize("name", ["grid", "siren"])
def test_occupancy_reference_learns(name: str) -> None:
    g = cell_grid((10, 10, 10)) - 0.5
    y = ((g**2).sum(-1).sqrt() < 0.35).float()  # a ball
    x = occupancy.coordinates((10, 10, 10), "paper")
    torch.manual_seed(0)
    first = occupancy.fit(occupancy.MODELS[name](1e3), x, y.reshape(-1), 1, occupancy.LR[name])
    torch.manual_seed(0)
    last = occupancy.fit(occupancy.MODELS[name](1e3), x, y.reshape(-1), 100, occupancy.LR[name] * 10)
    assert last["psnr"] > first["psnr"] + 3 and last["iou_0.5"] > 0.5


def nfields_run(make_cfg, run_dir: Path, *overrides: str) -> dict[str, float]:
    """Train one nfields preset -> its metrics.json (run dir contract)."""
    train(make_cfg(*overrides, "logger=none", run_dir=run_dir))
    return json.loads((run_dir / "metrics.json").read_text())


def audio_pair(
    make_cfg, run_dir: Path, path: Path, offset: float, preset: str, model: dict, *over: str, seeds=SEEDS
) -> dict:
    """One model on a 0.5 s crop at `offset`, 100 steps, `seeds`: the reference with nfields' settings (`model`: its
    build() keywords, on nfields' cells) and experiment=`preset` -> their test PSNRs (dB)."""
    samples, _ = siren_audio.read_clip(str(path), offset, 0.5)
    ref = [siren_audio.fit(samples, 100, seed=s, grid="cells", **model)["psnr"] for s in seeds]
    crop = (f"data.path={path}", f"data.offset={offset}", "data.duration=0.5", "trainer.max_steps=100")
    ours = [
        nfields_run(make_cfg, run_dir / f"{preset}_{s}", f"experiment={preset}", *crop, *over, f"seed={s}")["test/psnr"]
        for s in seeds
    ]
    return {"reference": ref, "nfields": ours}


def crop_of(clip: Path, offset: float, name: str):  # a clip's reduced crop, skipped when the file is absent
    return pytest.param(clip, offset, id=name, marks=pytest.mark.skipif(not clip.exists(), reason=f"{clip} is absent"))


@pytest.mark.slow
@REPRO
@pytest.mark.parametrize(
    "clip, offset", [crop_of(BACH, 2.0, "bach"), crop_of(COUNTING, siren_audio.COUNTING_OFFSET, "counting")]
)
def test_audio_reduced_matches_reference(make_cfg, tmp_path: Path, record_property, clip: Path, offset: float) -> None:
    """SIREN and its ReLU + positional encoding baseline, each against the reference; SIREN far above it."""
    k, scale = siren_audio.tancik_settings(len(siren_audio.read_clip(str(clip), offset, 0.5)[0]))  # 22,050 samples
    runs = {
        "siren": audio_pair(make_cfg, tmp_path, clip, offset, "siren_audio", AUDIO_MODELS["siren"],
                            seeds=SIREN_AUDIO_SEEDS),
        "relu_pe": audio_pair(make_cfg, tmp_path, clip, offset, "siren_audio_relu", AUDIO_MODELS["relu_pe nfields"],
                              f"encoding.n_features={k}", f"encoding.scale={scale}"),
    }  # fmt: skip
    record_property("test_psnr_db", runs)  # per seed, in the JUnit XML (--junitxml) for docs/domains.md
    for name, r in runs.items():
        assert abs(np.mean(r["nfields"]) - np.mean(r["reference"])) <= PSNR_TOL, (name, runs)
    for side in ("reference", "nfields"):
        assert min(runs["siren"][side]) > max(runs["relu_pe"][side]) + GAP_DB, (side, runs)


@pytest.mark.slow
@REPRO
@pytest.mark.skipif(not BIKES.exists(), reason=f"{BIKES} is absent")
def test_video_reduced_matches_reference(make_cfg, tmp_path: Path) -> None:
    clip = siren_video.read_frames(str(BIKES), 8, 64)
    ref = [siren_video.fit(clip, 300, 256, 4096, grid="cells", seed=s)["psnr"] for s in SEEDS]
    ours = [
        nfields_run(make_cfg, tmp_path / str(s), "experiment=siren_video", f"data.path={BIKES}", "data.frames=8",
                    "data.size=64", "network.n_neurons=256", "data.batch_size=4096", "trainer.max_steps=300",
                    f"seed={s}")["test/psnr"]
        for s in SEEDS
    ]  # fmt: skip
    assert abs(np.mean(ours) - np.mean(ref)) <= PSNR_TOL, (ours, ref)


@pytest.mark.slow
@REPRO
@pytest.mark.skipif(not DRAGON.exists(), reason=f"{DRAGON} is absent")
def test_occupancy_reduced_matches_reference(make_cfg, tmp_path: Path) -> None:
    y3 = occupancy.read_volume(str(DRAGON), 32)
    x, y = occupancy.coordinates(tuple(y3.shape), "cells"), y3.reshape(-1)
    ref = []
    for s in SEEDS:
        torch.manual_seed(s)
        ref.append(occupancy.fit(occupancy.siren(1e4, "linear"), x, y, 300, 1e-4))
    runs = [
        nfields_run(make_cfg, tmp_path / str(s), "experiment=occupancy", f"data.path={DRAGON}", "data.size=32",
                    "trainer.max_steps=300", f"seed={s}")
        for s in SEEDS
    ]  # fmt: skip
    # Occupancy's score is the IoU at 0.5: its PSNR falls 4 dB apart from seed to seed here, on both sides
    ious = [m["test/iou"] for m in runs]
    assert abs(np.mean(ious) - np.mean([r["iou_0.5"] for r in ref])) <= IOU_TOL, (ious, ref)
