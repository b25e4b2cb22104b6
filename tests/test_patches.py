"""data=patches: shapes and levels, seeded positions, train/val/test images kept apart, one-line refusals, and
a short meta-learning run on patches that learns to fit unseen ones in 3 steps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nfields.core.errors import ConfigError
from nfields.data import patches
from nfields.data.patches import GENERATED_SIDE, PatchesDataModule
from nfields.run.build import build_datamodule
from tests.conftest import CONFIGS
from tests.test_collections import trained_metrics

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
SMALL = {"patch": 8, "patches_per_image": 5, "n_val": 4, "n_test": 6, "generated": 3}


def folder(root: Path, sizes: list[tuple[int, ...]], seed: int) -> Path:
    """A folder of random uint8 images of `sizes` ((H, W) grey or (H, W, 3) colour), named by `seed`."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True)
    for i, size in enumerate(sizes):
        Image.fromarray(rng.integers(0, 256, size, dtype=np.uint8)).save(root / f"s{seed}_{i}.png")
    return root


def pools(dm: PatchesDataModule) -> dict[str, torch.Tensor]:
    """Every split's patches (M, p, p, C) float, as the module yields them."""
    dm.setup()
    return {k: torch.stack([split[i][1] for i in range(len(split))]) for k, split in dm.splits.items()}


def test_generated_patches_shapes_levels_and_splits() -> None:
    dm = PatchesDataModule(**SMALL)
    got = pools(dm)
    # 3 generated training images: the last held out for the 4 val patches, 2 x 5 patches to train on
    assert {k: tuple(v.shape) for k, v in got.items()} == {
        "train": (10, 8, 8, 3),
        "val": (4, 8, 8, 3),
        "test": (6, 8, 8, 3),
    }
    assert dm.splits["train"].pool.images.dtype == torch.uint8  # kept as levels: a quarter of float's memory
    assert all(v.dtype == torch.float32 and 0 <= v.min() and v.max() <= 1 and v.std() > 0 for v in got.values())
    assert dm.image_shape == (8, 8) and dm.channels == 3
    rows_cols = [(r, c) for _, r, c in dm.train_origin + dm.test_origin]
    assert all(0 <= r <= GENERATED_SIDE - 8 and 0 <= c <= GENERATED_SIDE - 8 for r, c in rows_cols)
    # round-robin: the first patches of a pool come from different images (data.limit and n_test span them)
    assert [name for name, _, _ in dm.train_origin[:2]] == ["generated train 0", "generated train 1"]
    assert len({name for name, _, _ in dm.test_origin[:3]}) == 3


def test_a_patch_is_the_image_at_its_corner(tmp_path: Path) -> None:
    train = folder(tmp_path / "train", [(20, 30, 3), (24, 24, 3), (20, 20, 3)], seed=0)
    test = folder(tmp_path / "test", [(16, 18, 3)], seed=1)
    dm = PatchesDataModule(str(train), str(test), **{**SMALL, "n_test": None})
    got = pools(dm)
    for split, origin in (("train", dm.train_origin), ("test", dm.test_origin)):
        root = train if split == "train" else test
        for patch, (name, r, c) in zip(got[split], origin, strict=False):
            image = torch.from_numpy(np.array(Image.open(root / name))).float() / 255
            assert torch.equal(patch, image[r : r + 8, c : c + 8])


def test_the_same_seed_cuts_the_same_patches() -> None:
    a, b, c = (pools(PatchesDataModule(**SMALL, seed=s)) for s in (0, 0, 1))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["train"], c["train"]) and not torch.equal(a["test"], c["test"])


def test_test_and_validation_images_are_never_trained_on(tmp_path: Path) -> None:
    train = folder(tmp_path / "train", [(16, 16, 3)] * 4, seed=0)
    test = folder(tmp_path / "test", [(16, 16, 3)] * 3, seed=1)
    dm = PatchesDataModule(str(train), str(test), patch=8, patches_per_image=6, n_val=8, n_test=None)
    got = pools(dm)
    n_train = len(dm.splits["train"])
    trained = {name for name, _, _ in dm.train_origin[:n_train]}
    validated = {name for name, _, _ in dm.train_origin[n_train:]}
    tested = {name for name, _, _ in dm.test_origin}
    assert trained == {"s0_0.png", "s0_1.png"} and validated == {"s0_2.png", "s0_3.png"}  # 8 patches: 2 images
    assert tested == {f"s1_{i}.png" for i in range(3)} and len(got["test"]) == 18
    seen = got["train"].flatten(1)  # (M, p*p*C)
    for split in ("val", "test"):
        assert not (got[split].flatten(1)[:, None] == seen[None]).all(-1).any()  # no patch is a training patch
    with pytest.raises(ConfigError, match=r"^data.test_path=.*: is data.train_path; test on another folder"):
        PatchesDataModule(str(train), str(train) + "/")


def test_stride_tiles_and_grey_images_beside_colour_ones(tmp_path: Path) -> None:
    train = folder(tmp_path / "train", [(16, 24), (16, 16, 3)], seed=0)  # a grey image and a colour one
    test = folder(tmp_path / "test", [(17, 16)], seed=1)
    dm = PatchesDataModule(str(train), str(test), patch=8, stride=8, patches_per_image=None, n_val=2, n_test=None)
    got = pools(dm)
    assert sorted((r, c) for _, r, c in dm.train_origin[: len(got["train"])]) == [
        (r, c) for r in (0, 8) for c in (0, 8, 16)
    ]
    assert len(got["test"]) == 4 and dm.channels == 3  # 2 x 2 tiles; grey patches become three equal channels
    grey = got["train"][0]
    assert torch.equal(grey[..., 0], grey[..., 1]) and torch.equal(grey[..., 0], grey[..., 2])


def test_limit_keeps_the_first_training_patches() -> None:
    full, limited = PatchesDataModule(**SMALL), PatchesDataModule(**SMALL, limit=3)
    assert len(pools(limited)["train"]) == 3
    assert torch.equal(pools(limited)["train"], pools(full)["train"][:3])


def test_more_training_patches_leave_the_validation_and_test_patches_as_they_were() -> None:
    """data.train_patches_per_image cuts more training patches (a superset, the old ones first, in their order)
    while the validation and test patches stay the same patches in the same order (comparisons stay valid)."""
    base = PatchesDataModule(**SMALL)
    more = PatchesDataModule(**SMALL, train_patches_per_image=9)
    a, b = pools(base), pools(more)
    assert torch.equal(a["test"], b["test"]) and torch.equal(a["val"], b["val"])
    assert base.test_origin == more.test_origin
    assert len(a["train"]) == 10 and len(b["train"]) == 18  # 2 training images x 5, then x 9
    assert torch.equal(b["train"][:10], a["train"]) and base.train_origin[:10] == more.train_origin[:10]
    assert len(set(more.train_origin[:18])) == 18  # distinct corners: drawn without replacement
    everything = PatchesDataModule(**SMALL, train_patches_per_image=10**6)  # above the grid: every corner
    assert len(pools(everything)["train"]) == 2 * (GENERATED_SIDE - 8 + 1) ** 2
    assert torch.equal(pools(everything)["test"], a["test"])


def test_the_first_patches_of_an_image_come_from_all_over_it() -> None:
    """A pool cut short (data.limit, data.n_test) takes each image's first patches: they must be a random draw
    from the whole image, not its top rows (sorted corners made Kodak's 256 test patches the sky of each image)."""
    rows = patches.corners(128, 128, 32, 1, 64, torch.Generator().manual_seed(0))[:, 0].float()  # (64,)
    everywhere = patches.corners(128, 128, 32, 1, None, torch.Generator().manual_seed(0))[:, 0].float()  # (97^2,)
    for first in (rows[:16], everywhere[:16]):
        assert abs(first.mean().item() - 48.0) < 12.0  # rows 0..96 (mean 48); the top 16 sorted had mean ~6


def test_bad_settings_are_one_line(tmp_path: Path) -> None:
    images = folder(tmp_path / "images", [(12, 40, 3)], seed=0)
    other = folder(tmp_path / "other", [(40, 40, 3)], seed=1)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no images here")
    for kwargs, message in (
        ({"train_path": str(tmp_path / "nope"), "test_path": str(other)}, "data.train_path=.*/nope: no such folder"),
        (
            {"train_path": str(other), "test_path": str(tmp_path / "empty")},
            "data.test_path=.*/empty: the folder holds no image files",
        ),
        (
            {"train_path": str(images), "test_path": str(other)},
            r"data.patch=32: is bigger than train image s0_0.png \(12x40\)",
        ),
        ({"train_path": str(other)}, "data.test_path=null: set both folders"),
        ({"patch": 0}, "data.patch=0: must be an integer >= 1"),
        ({"stride": 0}, "data.stride=0: must be an integer >= 1"),
        ({"patches_per_image": 0}, "data.patches_per_image=0: must be an integer >= 1, or null"),
        ({"train_patches_per_image": 0}, "data.train_patches_per_image=0: must be an integer >= 1, or null"),
        (
            {"patch": 200},
            f"data.patch=200: is bigger than train image generated train 0 \\({GENERATED_SIDE}x{GENERATED_SIDE}\\)",
        ),
    ):
        with pytest.raises(ConfigError, match=f"^{message}") as e:
            PatchesDataModule(**kwargs)
        assert "\n" not in str(e.value)
    with pytest.raises(ConfigError, match="^data.n_val=400: the training images but one give 70 patches"):
        PatchesDataModule(**SMALL | {"patches_per_image": 35, "n_val": 400}).setup()


def test_patches_that_would_not_fit_in_memory_are_refused_before_any_work(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(patches, "MAX_GB", 0.01)
    PatchesDataModule(patch=8, patches_per_image=64)  # 16 images x 64 patches x 192 bytes: 0.2 MB
    with pytest.raises(ConfigError) as e:  # 16 x 121^2 corners: 45 MB
        PatchesDataModule(patch=8, patches_per_image=None)
    assert str(e.value) == (
        "data.patches_per_image=null: with data.stride=1, cuts 234256 patches of 8x8 (0.045 GB, above 0.01); "
        "keep fewer per image or raise data.stride"
    )
    with pytest.raises(ConfigError) as e:  # 8 training images x 121^2 corners, 8 test images x 64: the training key
        PatchesDataModule(patch=8, train_patches_per_image=20000)
    assert str(e.value).startswith("data.train_patches_per_image=20000: with data.stride=1, cuts 117640 patches")


def test_a_misspelt_key_is_refused_with_a_suggestion() -> None:
    from nfields.run.options import unknown_key

    message = str(unknown_key("data.pach=16", CONFIGS)).split("; known: ")[0]
    assert message == "data.pach=16: unknown key (did you mean data.patch?)"


@pytest.mark.skipif(not (SHARED / "kodak").is_dir(), reason="../shared/data (DIV2K, Kodak) not present")
def test_div2k_patches_to_train_and_kodak_patches_to_test(make_cfg) -> None:
    """The COIN++ roles: DIV2K training images, Kodak test images (read from ../shared/data, never shipped)."""
    over = [f"data.train_path={SHARED / 'ffn/div2k/train'}", f"data.test_path={SHARED / 'kodak'}"]
    dm = build_datamodule(make_cfg("data=patches", *over, "data.patches_per_image=4", "data.n_val=4"))
    assert (len(dm.splits["train"]), len(dm.splits["val"]), len(dm.splits["test"])) == (60, 4, 96)
    assert dm.example().shape == (32, 32, 3)
    assert {n for n, _, _ in dm.test_origin} == {f"kodim{i:02d}.png" for i in range(1, 25)}
    assert not {n for n, _, _ in dm.train_origin} & {n for n, _, _ in dm.test_origin}


# 32x32 patches area-downsampled to 8x8 (data.size): small enough for a CPU test, not yet flat
META = ["debug=fast", "data=patches", "logger=none", "data.size=8", "data.generated=4", "data.patches_per_image=16"]
META += ["data.n_val=8", "data.n_test=16", "data.batch_size=8", "data.pixels_per_image=null", "encoding.sigma=3"]
META += [
    "encoding.n_features=16",
    "network.n_neurons=32",
    "model.latent_dim=8",
    "cond=film",
    "cond.identity_init=false",
]


def test_meta_learns_to_fit_unseen_patches_in_three_steps(make_cfg) -> None:
    over = ["model.latent_source=meta", "model.lr=1e-2", "trainer.max_steps=60", "log.val_every_n_steps=60"]
    m = trained_metrics(make_cfg(*META, *over))
    assert m["test/psnr_step3"] > m["test/psnr_step0"] + 1.5, m  # 16.2 -> 18.5 dB here, on the unseen test images


def test_the_autodecoder_trains_on_patches(make_cfg) -> None:
    over = ["model.latent_source=autodecoder", "trainer.max_steps=4", "log.val_every_n_steps=4"]
    m = trained_metrics(make_cfg(*META, *over, "model.tto_steps=3", "model.val_tto_steps=1"))
    assert m["step"] == 4 and np.isfinite(m["test/psnr"])
