"""Tasks and scores on grid signals of d = 1, 2, 3 dimensions: audio (T, C), images (H, W, C), videos and volumes
(D, H, W, C): the split, the forward model, training, slab-by-slab scoring, the 2-D case as before, the errors."""

from __future__ import annotations

import math
import re

import pytest
import torch
import torch.nn.functional as F

from nfields.core.coords import cell_grid, pixel_grid
from nfields.core.errors import ConfigError
from nfields.core.metrics import GridScore, ImageScore, psnr, row_bands, slab_cells, ssim, ssim_pad
from nfields.tasks.base import Observation, Task
from nfields.tasks.denoise import Denoise
from nfields.tasks.fit import Fit
from nfields.tasks.inpaint import Inpaint
from nfields.tasks.interpolate import Interpolate
from nfields.tasks.superres import SuperRes

SHAPES = {1: (37, 2), 2: (12, 10, 3), 3: (6, 8, 7, 1)}  # (*shape, C): sides not multiples of 2 or 3 included
TASKS = {
    "fit": Fit,
    "interpolate": lambda: Interpolate(factor=2),
    "interpolate_axis0": lambda: Interpolate(factor=2, axes=[0]),
    "superres": lambda: SuperRes(factor=2),
    "superres3_axis0": lambda: SuperRes(factor=3, axes=[0]),
    "denoise": lambda: Denoise(noise_std=0.1),
    "inpaint": lambda: Inpaint(keep=0.4),
    "inpaint_box": lambda: Inpaint(keep=0.7, box=0.5),
}
CASES = [(d, name) for d in SHAPES for name in TASKS]


def signal(d: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(SHAPES[d], generator=torch.Generator().manual_seed(seed))


def field(x: torch.Tensor) -> torch.Tensor:
    """A known nonlinear field: coords (..., M, d) -> values (..., M, 2)."""
    return torch.stack([torch.sin(7 * x).sum(-1), x.prod(-1) + x[..., 0] ** 2], -1)


@pytest.mark.parametrize("d, name", CASES)
def test_observe_shapes_split_and_no_leak(d: int, name: str) -> None:
    x = signal(d)
    shape, c = x.shape[:-1], x.shape[-1]
    obs = TASKS[name]().observe(x)
    pts, n = obs.points(), obs.values.shape[0]
    assert n > 0 and pts.shape == (n, d) and pts.dtype == torch.float32 and obs.values.shape == (n, c)
    assert ((pts > 0) & (pts < 1)).all() and obs.display.shape == x.shape
    if obs.footprint is not None:
        assert obs.footprint.shape[-1] == d
    if obs.train_mask is not None:  # on the grid: the cells of train_mask in C order, their values the signal's
        assert obs.train_mask.shape == shape and obs.train_mask.dtype == torch.bool
        assert torch.equal(pts, cell_grid(shape)[obs.train_mask])
        if name != "denoise":
            assert torch.equal(obs.values, x[obs.train_mask])
    val, test = obs.mask("val"), obs.mask("test")
    if name == "fit":
        assert val is None and test is None
        return
    assert val.shape == test.shape == shape and val.dtype == test.dtype == torch.bool
    assert val.any() and test.any() and not (val & test).any(), "val/* and test/* must score disjoint cells"
    if name.startswith(("interpolate", "inpaint")):  # held-out cells: none of them is trained on
        assert not (obs.train_mask & (val | test)).any()
        scored = cell_grid(shape)[val | test]  # (M, d)
        assert not (pts[:, None] == scored[None]).all(-1).any()
    for b, img in obs.baselines.items():
        assert img.shape == x.shape, b


def test_interpolate_along_one_axis_holds_out_whole_frames() -> None:
    """Video (T, H, W, C) with axes [0]: train on the even frames, score the odd ones (val and test halves)."""
    video = torch.rand(6, 4, 5, 3)
    obs = Interpolate(factor=2, axes=[0]).observe(video)
    assert torch.equal(obs.values, video[::2].reshape(-1, 3))
    assert obs.train_mask[::2].all() and not obs.train_mask[1::2].any()
    assert torch.equal(obs.mask("val") | obs.mask("test"), ~obs.train_mask)
    avg = obs.baselines["trilinear"]  # frame averaging: an odd frame is the mean of its two neighbours
    assert torch.allclose(avg[1], (video[0] + video[2]) / 2, atol=1e-6) and torch.equal(avg[0], video[0])
    assert torch.equal(avg[5], video[4])  # past the last training frame: repeated
    assert torch.equal(obs.display[1], video[0])
    audio = (torch.arange(9, dtype=torch.float32) / 8)[:, None]  # (9, 1) a ramp: linear interpolation is exact
    lin = Interpolate(factor=2).observe(audio).baselines["linear"]
    assert torch.allclose(lin, audio, atol=1e-6)
    levels = Interpolate(factor=2).observe((audio * 255).round().to(torch.uint8))  # accepts_uint8: levels kept
    assert levels.values.dtype == levels.baselines["linear"].dtype == torch.uint8


def test_superres_along_axes_is_per_frame_superres() -> None:
    """Spatial super-resolution of a video (axes [1, 2]) observes each frame as the 2-D task does."""
    video = torch.rand(3, 8, 6, 2)
    obs = SuperRes(factor=2, axes=[1, 2]).observe(video)
    assert obs.footprint.shape == (4, 3) and (obs.footprint[:, 2] == 0).all()  # no extent in time
    frames = [SuperRes(factor=2).observe(frame) for frame in video]
    assert torch.equal(obs.values, torch.cat([o.values for o in frames]))
    assert torch.equal(obs.coords[:, :2], torch.cat([o.coords for o in frames]))
    assert torch.equal(obs.coords[:, 2], ((torch.arange(3) + 0.5) / 3).repeat_interleave(12))
    assert SuperRes(factor=3).observe(torch.rand(6, 7, 9, 1)).footprint.shape == (27, 3)
    assert SuperRes(factor=3).observe(torch.rand(6, 7, 9, 1)).values.shape == (2 * 2 * 3, 1)


@pytest.mark.parametrize("d, name", CASES)
def test_a_batch_is_the_field_measured_at_its_points(d: int, name: str) -> None:
    x = signal(d, seed=1)
    task = TASKS[name]()
    obs = task.observe(x)
    idx = torch.arange(obs.values.shape[0]).flip(0)[::3]  # (P,) any order
    batch = obs.take(idx)
    got = task.forward_model(field, batch)  # (P, 2)
    if obs.footprint is None:
        expected = field(obs.points()[idx])
    else:  # superres: the mean of the field over each block's full-resolution cell centres
        shape, f, axes = x.shape[:-1], task.factor, task.axes or range(d)
        kernel = [f if a in axes else 1 for a in range(d)]
        full = field(cell_grid(shape))[tuple(slice(0, n // k * k) for n, k in zip(shape, kernel, strict=True))]
        view = [m for n, k in zip(shape, kernel, strict=True) for m in (n // k, k)]
        means = full.reshape(*view, 2).mean(dim=tuple(range(1, 2 * d, 2))).reshape(-1, 2)  # (N, 2) C order
        expected = means[idx]
    assert got.shape == expected.shape == (idx.numel(), 2)
    assert torch.allclose(got, expected, atol=1e-5)
    stacked = Observation.stack([obs, obs]).take(torch.stack([idx, idx]))  # (2, P, ...): a collection's batch
    assert stacked.coords.shape == (2, idx.numel(), d)
    assert torch.allclose(task.forward_model(field, stacked)[1], expected, atol=1e-5)


def test_for_scoring_and_clone_keep_a_volumes_masks_and_baselines() -> None:
    obs = SuperRes(factor=2).observe(signal(3))
    light = obs.for_scoring()  # what evaluate() reads, without the observed values
    assert light.values.shape == (0, 1) and light.coords is None
    assert torch.equal(light.mask("test"), obs.mask("test")) and light.baselines.keys() == {"trilinear"}
    twin = obs.clone()
    twin.eval_mask[0, 0, 0] = ~twin.eval_mask[0, 0, 0]
    twin.baselines["trilinear"][0] = 7
    assert torch.equal(twin.values, obs.values) and twin.footprint.shape == (8, 3)
    assert twin.eval_mask[0, 0, 0] != obs.eval_mask[0, 0, 0] and obs.baselines["trilinear"].max() <= 1
    with pytest.raises(ValueError, match="share one size"):
        Observation.stack([obs, SuperRes(factor=2).observe(torch.rand(4, 4, 4, 1))])


def chirp(n: int) -> torch.Tensor:
    """(n, 1) a 1-D chirp in [0, 1]: audio as the data layer gives it."""
    t = torch.linspace(0, 1, n)
    return (0.5 + 0.4 * torch.sin(2 * math.pi * (2 * t + 4 * t**2)))[:, None]


def ball(n: int) -> torch.Tensor:
    """(n, n, n, 1) a soft ball in [0, 1]: a volume."""
    r = (cell_grid((n, n, n)) - 0.5).norm(dim=-1, keepdim=True)
    return torch.sigmoid((0.3 - r) * 20)


@pytest.mark.parametrize("make", [Fit, lambda: Interpolate(), lambda: SuperRes(), lambda: Denoise(), Inpaint])
@pytest.mark.parametrize("sig", [chirp(64), ball(8)], ids=["chirp_1d", "volume_3d"])
def test_training_a_tiny_field_lowers_the_loss(make, sig: torch.Tensor) -> None:
    torch.manual_seed(0)
    d = sig.dim() - 1
    task: Task = make()
    obs = task.observe(sig)
    net = torch.nn.Sequential(torch.nn.Linear(d, 32), torch.nn.Tanh(), torch.nn.Linear(32, 1))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    losses = []
    for _ in range(40):
        opt.zero_grad()
        loss = task.loss(net, obs.take(torch.arange(obs.values.shape[0])))
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses[::10]


@pytest.mark.parametrize(
    "shape, frames, keys",
    [
        ((40,), False, {"psnr"}),
        ((11, 9), False, {"psnr", "ssim"}),
        ((5, 12, 10), True, {"psnr", "ssim"}),
        ((5, 6, 7), False, {"psnr"}),
    ],
    ids=["audio", "image", "video", "volume"],
)
@pytest.mark.parametrize("cells", [1, 2, 4, 100])
def test_grid_score_in_slabs_is_the_whole(shape: tuple, frames: bool, keys: set, cells: int) -> None:
    g = torch.Generator().manual_seed(3)
    clean = torch.rand(*shape, 2, generator=g)
    pred = (clean + 0.1 * torch.randn(clean.shape, generator=g)).clamp(0, 1)
    whole = GridScore(shape, frames=frames)
    whole.add_ssim(pred, clean, slice(0, shape[0]))
    whole.add_psnr("psnr", pred, clean)
    slabs = GridScore(shape, frames=frames)
    assert slabs.pad == ssim_pad(*shape, frames=frames) and (slabs.pad > 0) == (len(shape) == 2)
    for r0, r1, lo, hi in row_bands(shape[0], cells, slabs.pad):
        slabs.add_ssim(pred[lo:hi], clean[lo:hi], slice(r0 - lo, r1 - lo))
        slabs.add_psnr("psnr", pred[r0:r1], clean[r0:r1])
    a, b = whole.result(), slabs.result()
    assert a.keys() == b.keys() == keys  # no NaN SSIM for audio or volumes: no key at all
    assert all(b[k] == pytest.approx(a[k], abs=1e-6) for k in a)
    assert a["psnr"] == pytest.approx(psnr(pred, clean), abs=1e-4)
    if frames:  # a video's SSIM: the mean over frames of each frame's 2-D SSIM
        assert a["ssim"] == pytest.approx(sum(ssim(p, c) for p, c in zip(pred, clean, strict=True)) / shape[0])
    assert slab_cells(shape, 100) == max(1, 100 // math.prod(shape[1:]))


@pytest.mark.parametrize("d, name", CASES)
def test_evaluate_in_slabs_is_the_whole_on_any_grid(d: int, name: str) -> None:
    x = signal(d, seed=2)
    pred = (x + 0.1 * torch.randn(x.shape, generator=torch.Generator().manual_seed(4))).clamp(0, 1)
    task = TASKS[name]()
    obs = task.observe(x, key=3)
    for stage in ("val", "test"):
        whole = task.evaluate(pred, x, obs, stage)
        score = GridScore(x.shape[:-1])
        for r0, r1, lo, hi in row_bands(x.shape[0], 2, score.pad):
            task.score_rows(score, pred[lo:hi], x[lo:hi], obs, stage, (r0, r1, lo))
        assert score.result() == pytest.approx(whole, abs=1e-6)
        assert ("ssim" in whole) == (d == 2) and whole["psnr"] > 0


def test_the_image_case_is_the_2d_path() -> None:
    """On an (H, W, C) image GridScore is ImageScore and torchmetrics' SSIM/PSNR; superres is avg_pool2d with the
    bicubic baseline; interpolate is the even grid: the values the 2-D code computed, bit for bit."""
    g = torch.Generator().manual_seed(5)
    img, noise = torch.rand(20, 14, 3, generator=g), torch.randn(20, 14, 3, generator=g)
    pred = (img + 0.1 * noise).clamp(0, 1)
    for task in (SuperRes(factor=2), Interpolate(factor=2), Inpaint(keep=0.5), Denoise(), Fit()):
        obs = task.observe(img)
        grid, image = GridScore((20, 14)), ImageScore(20, 14)
        for s in (grid, image):
            task.score_rows(s, pred, img, obs, "test", (0, 20, 0))
        assert grid.result() == image.result()
    whole = Fit().evaluate(pred, img, Fit().observe(img))
    assert whole["ssim"] == ssim(pred, img) and whole["psnr"] == pytest.approx(psnr(pred, img), abs=1e-5)
    obs = SuperRes(factor=2).observe(img)
    low = F.avg_pool2d(img.permute(2, 0, 1)[None], 2)  # (1, C, 10, 7)
    assert torch.equal(obs.values, low[0].permute(1, 2, 0).reshape(-1, 3))
    assert torch.equal(obs.coords, pixel_grid(10, 7).reshape(-1, 2))
    bicubic = F.interpolate(low, size=(20, 14), mode="bicubic", align_corners=False).clamp(0, 1)[0].permute(1, 2, 0)
    assert obs.baselines.keys() == {"bicubic"} and torch.equal(obs.baselines["bicubic"], bicubic)
    assert torch.equal(Interpolate(axes=[0, 1]).observe(img).train_mask, Interpolate().observe(img).train_mask)
    assert not Interpolate().observe(img).baselines  # images: Tancik's protocol has no baseline


@pytest.mark.parametrize(
    "make, key",
    [
        (lambda: Interpolate(axes="x"), "task.axes=x"),
        (lambda: Interpolate(axes=[]), "task.axes=[]"),
        (lambda: Interpolate(axes=[0, 0]), "task.axes=[0, 0]"),
        (lambda: Interpolate(axes=[-1]), "task.axes=[-1]"),
        (lambda: SuperRes(axes=[1.5]), "task.axes=[1.5]"),
        (lambda: SuperRes(axes=True), "task.axes=true"),
    ],
)
def test_bad_axes_fail_with_the_key(make, key: str) -> None:
    with pytest.raises(ConfigError, match=f"^{re.escape(key)}: must be a non-empty list of distinct array axes"):
        make()


@pytest.mark.parametrize(
    "task, shape, message",
    [
        (Interpolate(axes=[3]), (6, 8, 7), "task.axes=[3]: axis 3 is not an axis of a 3-D signal of shape 6x8x7; "),
        (SuperRes(axes=[0, 1]), (37,), "task.axes=[0, 1]: axis 1 is not an axis of a 1-D signal of shape 37; "),
        (Interpolate(axes=[0]), (1, 8, 7), "task=interpolate: needs a signal of at least 2x1x1 cells, got 1x8x7; "),
        (Interpolate(), (1,), "task=interpolate: needs a signal of at least 2 cells, got 1; "),
        (
            SuperRes(factor=4, axes=[0]),
            (3, 8, 8),
            "task.factor=4: is larger than the signal along axis 0 (shape 3x8x8); ",
        ),
        (SuperRes(factor=40), (37,), "task.factor=40: is larger than the signal along axis 0 (shape 37); "),
        (Inpaint(keep=1.0), (37,), "task.keep=1.0: no cell is missing with task.box=null on a signal of shape 37; "),
    ],
)
def test_a_signal_the_task_cannot_use_fails_in_one_line(task: Task, shape: tuple, message: str) -> None:
    with pytest.raises(ConfigError) as e:
        task.observe(torch.rand(*shape, 1))
    assert str(e.value).startswith(message) and "\n" not in str(e.value), str(e.value)
