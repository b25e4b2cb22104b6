"""Tasks: what is observed vs what is scored (no leaks), shapes, seeded determinism, bad parameters."""

from __future__ import annotations

import re

import pytest
import torch
from hydra.utils import instantiate

from nfields.core.coords import pixel_grid
from nfields.core.errors import ConfigError
from nfields.tasks.base import Observation, Task
from nfields.tasks.denoise import Denoise
from nfields.tasks.fit import Fit
from nfields.tasks.inpaint import Inpaint
from nfields.tasks.interpolate import Interpolate
from nfields.tasks.shape import ShapeTask
from nfields.tasks.superres import SuperRes
from tests.contracts import options

H, W, C = 20, 18, 3
# Variants of the tasks' arguments; what every option of configs/task/ must do (shapes, the split, seeding, the
# forward model, bad arguments) is checked on each by tests/test_contracts.py.
TASKS = {
    "interpolate": lambda seed=0: Interpolate(factor=2, seed=seed),
    "interpolate3": lambda seed=0: Interpolate(factor=3, seed=seed),
    "superres": lambda seed=0: SuperRes(factor=2, seed=seed),
    "superres3": lambda seed=0: SuperRes(factor=3, seed=seed),
    "denoise": lambda seed=0: Denoise(noise_std=0.1, seed=seed),
    "inpaint": lambda seed=0: Inpaint(keep=0.3, seed=seed),
    "inpaint_box": lambda seed=0: Inpaint(keep=1.0, box=0.4, seed=seed),
    "inpaint_both": lambda seed=0: Inpaint(keep=0.5, box=0.3, seed=seed),
}
HOLD_OUT = ["interpolate", "interpolate3", "inpaint", "inpaint_box", "inpaint_both"]  # pixels never observed


@pytest.fixture
def image() -> torch.Tensor:
    return torch.rand(H, W, C, generator=torch.Generator().manual_seed(1))


def coord_keys(coords: torch.Tensor) -> set[tuple[int, int]]:
    """Pixel-centre coords (N, 2) -> integer (row, col) keys at the full resolution."""
    ij = torch.stack([coords[:, 1] * H - 0.5, coords[:, 0] * W - 0.5], -1)
    assert torch.allclose(ij, ij.round(), atol=1e-4), "observed coords are not full-resolution pixel centres"
    return {tuple(x) for x in ij.round().long().tolist()}


@pytest.mark.parametrize("name", list(TASKS))
def test_shapes_and_disjoint_val_test(name: str, image: torch.Tensor) -> None:
    obs = TASKS[name]().observe(image)
    n = obs.points().shape[0]
    assert obs.points().shape == (n, 2) and obs.values.shape == (n, C) and n > 0
    assert obs.display.shape == image.shape
    assert ((obs.points() > 0) & (obs.points() < 1)).all()
    if obs.train_mask is not None:  # on the grid: the coordinates are those of train_mask, row-major
        assert torch.equal(obs.points(), pixel_grid(H, W)[obs.train_mask])
    val, test = obs.mask("val"), obs.mask("test")
    assert val.shape == test.shape == (H, W) and val.dtype == test.dtype == torch.bool
    assert val.any() and test.any()
    assert not (val & test).any(), "val/* and test/* must score disjoint pixels"


@pytest.mark.parametrize("name", HOLD_OUT)
def test_no_scored_pixel_is_observed(name: str, image: torch.Tensor) -> None:
    obs = TASKS[name]().observe(image)
    seen = coord_keys(obs.points())
    assert len(seen) == obs.points().shape[0]  # no pixel observed twice
    grid = pixel_grid(H, W)
    for stage in ("val", "test"):
        scored = coord_keys(grid[obs.mask(stage)])
        assert not seen & scored, f"{stage} pixels leak into training"
        assert not (obs.train_mask & obs.mask(stage)).any()
    assert obs.train_mask.sum() == obs.points().shape[0]
    ij = torch.tensor(sorted(seen))
    assert torch.equal(obs.values, image[ij[:, 0], ij[:, 1]][torch.argsort(torch.argsort(_order(obs.points())))])


def _order(coords: torch.Tensor) -> torch.Tensor:
    """Row-major rank of each observed coordinate (to compare values with the image)."""
    i, j = (coords[:, 1] * H - 0.5).round().long(), (coords[:, 0] * W - 0.5).round().long()
    return i * W + j


ON_GRID = {
    "fit": Fit,
    "interpolate": lambda: Interpolate(factor=2),
    "interpolate3": lambda: Interpolate(factor=3),
    "denoise": lambda: Denoise(noise_std=0.0),  # without noise: its values are the image's
    "inpaint": lambda: Inpaint(keep=0.3),
    "inpaint_box": lambda: Inpaint(keep=1.0, box=0.4),
}


@pytest.mark.parametrize("name", list(ON_GRID))
def test_values_are_in_the_row_major_order_of_train_mask(name: str) -> None:
    """The contract of an Observation on the grid (coords None): values[i] is the i-th True pixel of train_mask
    in row-major order, the pixel at points()[i]. Storage pairs values with pixel indices on this order alone."""
    rows, cols = torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij")
    ids = (rows * W + cols).float() / (H * W)  # every pixel a distinct value, in [0, 1)
    image = torch.stack([ids, rows / H, cols / W], -1)  # (H, W, 3)
    obs = ON_GRID[name]().observe(image)
    assert obs.coords is None and obs.train_mask is not None
    assert torch.equal(obs.values, image[obs.train_mask])  # boolean indexing is row-major
    ij = ((obs.points() * torch.tensor([W, H]) - 0.5).round().long()).flip(-1)  # (N, 2) (row, col) of each point
    assert torch.equal(obs.values, image[ij[:, 0], ij[:, 1]])
    assert torch.equal((ij[:, 0] * W + ij[:, 1]).diff().sign(), torch.ones(ij.shape[0] - 1, dtype=torch.long))


def test_a_subset_is_measured_as_the_whole() -> None:
    """The footprint travels with the observation and with every subset of it: a task instance that observed
    nothing (a collection's main process when workers observe) measures a batch exactly as the observer would."""
    image = torch.rand(12, 10, 3, generator=torch.Generator().manual_seed(2))
    obs = SuperRes(factor=2).observe(image)
    idx = torch.tensor([4, 0, 7])

    def field(x: torch.Tensor) -> torch.Tensor:
        return torch.cat([torch.sin(7 * x), x.prod(-1, keepdim=True)], -1)

    whole = SuperRes(factor=2).forward_model(field, obs)  # a fresh instance: no state of an earlier observe()
    batch = obs.take(idx)
    assert batch.footprint is obs.footprint and batch.footprint.shape == (4, 2)
    assert torch.equal(SuperRes(factor=2).forward_model(field, batch), whole[idx])
    with pytest.raises(ValueError, match="override forward_model"):  # a footprint the task cannot measure
        Fit().forward_model(field, batch)


def test_a_stack_of_observations_needs_one_footprint() -> None:
    small, large = torch.rand(8, 8, 3), torch.rand(12, 12, 3)
    task = SuperRes(factor=2)
    stacked = Observation.stack([task.observe(small, key=0), task.observe(small, key=1)])
    assert stacked.values.shape == (2, 16, 3) and stacked.coords.shape == (2, 16, 2)
    with pytest.raises(ValueError, match="share one size"):
        Observation.stack([task.observe(small), task.observe(large)])


def test_interpolate_factor2_is_tancik_protocol() -> None:
    img = torch.rand(16, 16, 3)
    obs = Interpolate(factor=2).observe(img)
    grid = pixel_grid(16, 16)
    assert torch.equal(obs.points(), grid[::2, ::2].reshape(-1, 2))  # the even grid
    assert torch.equal(obs.values, img[::2, ::2].reshape(-1, 3))
    odd = torch.zeros(16, 16, dtype=torch.bool)
    odd[1::2, 1::2] = True
    assert torch.equal(obs.mask("test"), odd)  # tested on the odd grid
    assert obs.mask("val").sum() == 16 * 16 - 2 * 8 * 8  # the other held-out pixels
    assert torch.equal(obs.display[:2, :2], img[0, 0].expand(2, 2, 3))  # each sample shown as a 2x2 block


def test_superres_observes_block_means_at_block_centres() -> None:
    img = torch.rand(12, 12, 3)
    obs = SuperRes(factor=3).observe(img)
    assert torch.allclose(obs.points(), pixel_grid(4, 4).reshape(-1, 2))  # centres of the 3x3 blocks
    means = img.reshape(4, 3, 4, 3, 3).mean(dim=(1, 3)).reshape(-1, 3)
    assert torch.allclose(obs.values, means, atol=1e-6)
    bicubic = obs.baselines["bicubic"]
    assert bicubic.shape == img.shape and 0 <= bicubic.min() and bicubic.max() <= 1
    assert torch.equal(obs.display[:3, :3], obs.values[0].expand(3, 3, 3))  # nearest upsampled
    assert "psnr_bicubic" in SuperRes(factor=3).evaluate(img, img, obs, "test")


def test_denoise_adds_seeded_noise_of_the_right_std() -> None:
    img = torch.full((64, 64, 3), 0.5)
    obs = Denoise(noise_std=0.2).observe(img)
    noise = obs.values - img.reshape(-1, 3)
    assert abs(noise.std().item() - 0.2) < 0.01 and abs(noise.mean().item()) < 0.01
    assert torch.equal(Denoise(noise_std=0.0).observe(img).values, img.reshape(-1, 3))


def test_inpaint_keeps_the_fraction_and_hides_the_box(image: torch.Tensor) -> None:
    assert Inpaint(keep=0.3).observe(image).points().shape[0] == round(0.3 * H * W)
    obs = Inpaint(keep=1.0, box=0.5).observe(image)
    missing = obs.mask("val") | obs.mask("test")
    assert missing.sum() == round(0.5 * H) * round(0.5 * W)  # exactly the box
    rows, cols = missing.nonzero().unbind(1)
    assert (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1) == missing.sum()  # a solid rectangle
    assert (obs.display[missing] == 0).all() and torch.equal(obs.display[~missing], image[~missing])


@pytest.mark.parametrize("name", list(TASKS))
def test_observation_is_seeded(name: str, image: torch.Tensor) -> None:
    a, b = TASKS[name](seed=3).observe(image), TASKS[name](seed=3).observe(image)
    torch.manual_seed(123)  # the global RNG must not matter
    c = TASKS[name](seed=3).observe(image)
    for x in (b, c):
        assert torch.equal(a.points(), x.points()) and torch.equal(a.values, x.values)
        assert torch.equal(a.mask("test"), x.mask("test")) and torch.equal(a.mask("val"), x.mask("val"))
    other = TASKS[name](seed=4).observe(image)
    if name.startswith(("denoise", "inpaint")):  # random observations change with the seed and the image key
        assert not torch.equal(a.values, other.values) or not torch.equal(a.points(), other.points())
        k1 = TASKS[name](seed=3).observe(image, key=1)
        assert not torch.equal(a.values, k1.values) or not torch.equal(a.points(), k1.points())
        assert k1.points().shape == a.points().shape  # images of a collection stack


def test_evaluate_scores_each_stage_on_its_own_pixels(image: torch.Tensor) -> None:
    task = Interpolate(factor=2)
    obs = task.observe(image)
    pred = image.clone()
    pred[obs.mask("test")] = 0  # wrong only on the test pixels
    assert task.evaluate(pred, image, obs, "val")["psnr"] == float("inf")
    test = task.evaluate(pred, image, obs, "test")
    assert test["psnr"] < test["psnr_all"] < float("inf")


@pytest.mark.parametrize(
    "make, key",
    [
        (lambda: Interpolate(factor=1), "task.factor=1"),
        (lambda: Interpolate(factor=0), "task.factor=0"),
        (lambda: SuperRes(factor=0), "task.factor=0"),
        (lambda: Denoise(noise_std=-0.1), "task.noise_std=-0.1"),
        (lambda: Inpaint(keep=1.5), "task.keep=1.5"),
        (lambda: Inpaint(keep=-0.1), "task.keep=-0.1"),
        (lambda: Inpaint(keep=0.5, box=2.0), "task.box=2.0"),
    ],
)
def test_bad_parameters_fail_with_the_key(make, key: str) -> None:
    with pytest.raises(ConfigError, match=f"^{re.escape(key)}: must be "):
        make()


@pytest.mark.parametrize(
    "task, shape, message",
    [
        (Inpaint(keep=1.0), (H, W), f"task.keep=1.0: no pixel is missing with task.box=null on a {H}x{W} image"),
        (Inpaint(keep=1e-9), (H, W), f"task.keep=1e-09: no pixel is observed with task.box=null on a {H}x{W} image"),
        (SuperRes(factor=64), (H, W), f"task.factor=64: is larger than the image ({H}x{W}); use a smaller factor"),
        (Interpolate(), (1, 5), "task=interpolate: needs an image of at least 2x2 pixels, got 1x5; raise data.size"),
    ],
)
def test_bad_parameters_for_the_image_fail_before_training(task: Task, shape: tuple, message: str) -> None:
    """Checked when the task first sees the image (the datamodule's setup, before the trainer exists)."""
    with pytest.raises(ConfigError) as e:
        task.observe(torch.rand(*shape, C))
    assert str(e.value).startswith(message)


def test_fit_scores_everything(image: torch.Tensor) -> None:
    obs = Fit().observe(image)
    assert obs.mask("val") is None and obs.mask("test") is None
    assert obs.coords is None  # implied by train_mask: no float grid of every pixel is built
    assert torch.equal(obs.points(), pixel_grid(H, W).reshape(-1, 2))


@pytest.mark.parametrize("name", options("task"))
def test_task_configs_build_the_task(make_cfg, name: str) -> None:
    task = instantiate(make_cfg("debug=fast", f"task={name}").task)
    assert task.name == name and isinstance(task, (Task, ShapeTask))  # a grid's task or a shape's
