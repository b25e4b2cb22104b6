"""scripts/rd.py's other representations (WIRE, FINER, the dense grid, the hash grid, 2-D Gaussians): each trains
as model=many members at the size its token names and at its protocol's lr, and each member's .nfc file decodes,
through decompress.py alone, to the PSNR rd.py reported for it."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import torch
from PIL import Image

from nfields.analysis.codec.rd import REPS, parse_sizes, size_overrides
from nfields.core.errors import ConfigError
from nfields.core.media import as_float
from nfields.core.metrics import psnr
from tests.codec_run import load_script, smooth_image

# 16 levels x 2^4 entries x 2 features, then the MLP 32 -> 16 -> 16 -> 3
HASHGRID_PARAMS = 16 * 16 * 2 + (32 * 16 + 16) + (16 * 16 + 16) + (16 * 3 + 3)
# rep -> (its size token here, the parameters that token gives one RGB member)
SIZES = {
    "wire": (
        "2x8",
        108,
    ),  # width int(8 / sqrt 2) = 5: real 2 -> 5 (15), complex 5 -> 5 (30 x 2), real head 10 -> 3 (33)
    "finer": ("2x8", 123),  # (2*8+8) + (8*8+8) + (8*3+3): SIREN's shapes
    "grid": ("4", 79),  # 4 x 4 vertices x 4 features + a linear layer 4 -> 3
    "hashgrid": ("4", HASHGRID_PARAMS),
    "gaussians": ("20", 160),  # 8 numbers each: 2 position, 3 Cholesky, 3 colour
}
H, W = 12, 16


# the lr each member trains at: the ladder's own (Rep.train) where its protocol differs from model=many's 1e-3
LR = {"wire": 1e-3, "finer": 5e-4, "grid": 1e-2, "hashgrid": 1e-2, "gaussians": 1e-2}


@pytest.fixture(scope="module")
def rd(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """The five representations on 2 generated images (12x16, and a 16x12 one turned to landscape), 20 steps,
    8 bits after 3 quantisation-aware steps and, from the same fits, post-training (QAT first: it must not
    change the fitted field the post-training files are written from)."""
    root = tmp_path_factory.mktemp("rd_reps")
    images = root / "images"
    images.mkdir()
    Image.fromarray(smooth_image(H, W)).save(images / "a.png")
    Image.fromarray(np.ascontiguousarray(smooth_image(W, H)[::-1])).save(images / "b.png")
    out = root / "out"
    sizes = [f"{rep}={size}" for rep, (size, _) in SIZES.items()]
    argv = ["--images", str(images), "--out", str(out), "--reps", ",".join(SIZES), "--sizes", *sizes]
    argv += ["--steps", "20", "--qat-steps", "3", "0", "--classical", "jpeg", "--qualities", "50", "--", "debug=fast"]
    return out, load_script("rd").main(argv)


@pytest.mark.parametrize("rep", list(SIZES))
def test_each_representation_round_trips_through_its_files(rd: tuple[Path, dict], rep: str) -> None:
    out, result = rd
    (p, ptq) = [p for p in result["points"] if p["rep"] == rep]  # --qat-steps 3 0: a point each, one fit
    size, params = SIZES[rep]
    assert (
        ptq["qat_steps"] == 0
        and ptq["size"] == size
        and Path(ptq["members"][0]["file"]).parent.name == rep + "-" + size
    )
    assert Path(p["members"][0]["file"]).parent.name == f"{rep}-{size}-qat3"
    for m, m0 in zip(p["members"], ptq["members"], strict=True):  # QAT fine-tuned a copy: the fitted field is intact
        assert m0["psnr_float"] == m["psnr_float"] and m0["file"] != m["file"]
    assert p["size"] == size and p["images"] == 2 and p["qat_steps"] == 3
    assert p["own_quantisers"] == (rep == "gaussians")  # GaussianImage's quantisers, fine-tuned through
    assert p["bpp_coin"] == pytest.approx(16 * params / (H * W))  # the token reached the field
    decompress = load_script("decompress")
    for m in p["members"]:
        assert m["bpp"] == pytest.approx(8 * Path(m["file"]).stat().st_size / (H * W))
        target = as_float(torch.from_numpy(iio.imread(out / "images" / m["image"])))  # (12, 16, 3), as fitted
        decoded = iio.imread(decompress.main([m["file"], "--out", str(out / f"{rep}-again.png")]))
        assert psnr(as_float(torch.from_numpy(decoded)), target) == pytest.approx(m["psnr"], abs=0.01)
    with (out / "runs" / f"{rep}-{size}" / "members.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    for m, row in zip(p["members"], rows, strict=True):  # each member rebuilt from the stack is the trained field
        assert m["image"] == row["name"] and m["psnr_float"] == pytest.approx(float(row["test/psnr"]), abs=0.02)
        assert float(row["lr"]) == pytest.approx(LR[rep])  # the ladder's training overrides reached the run
    history = json.loads((out / "runs" / f"{rep}-{size}" / "members_history.json").read_text())["train"]
    losses = np.array([h["loss"] for h in history])  # (T, M): every member learnt something
    assert (losses[-1] < losses[0]).all()


def test_every_representation_has_a_ladder_of_valid_tokens() -> None:
    ladders = parse_sizes(list(REPS), [])
    assert all(len(ladders[rep]) >= 3 for rep in REPS)
    assert size_overrides("gaussians", "500") == ["field=gaussians", "field.n_gaussians=500", "model.lr=1e-2"]
    assert "encoding.resolution=32" in size_overrides("grid", "32")
    assert size_overrides("hashgrid", "8")[-1] == "model.lr=1e-2"  # Instant-NGP's, after the field's overrides
    with pytest.raises(ConfigError, match="must be DxW"):
        size_overrides("wire", "64")
    with pytest.raises(ConfigError, match="encoding.resolution, 2..any"):
        size_overrides("grid", "1")
    with pytest.raises(ConfigError, match="--reps=gauss: must be one of siren, fourier"):
        parse_sizes(["gauss"], [])
