"""COIN++ codec (scripts/coinpp.py): tiling as COIN++'s Patcher, its quantiser, the .nfm round trip on a tiny
meta-learned run trained here, and one-line refusals that write nothing."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.core.global_hydra import GlobalHydra
from PIL import Image

from nfields.analysis.codec.coinpp import STD_RANGE, Prior, load_meta_run, prior_for, tile, untile
from nfields.analysis.codec.coinpp_file import CRC, HEAD, encode_image
from nfields.core.errors import UserError
from nfields.run.compose import compose_run_config
from nfields.run.resume import read_checkpoint
from nfields.run.train import train
from tests.codec_run import load_script, smooth_image

# a tiny meta-learned field on 8x8 patches of the generated images: shift-only FiLM on a 2 x 16 SIREN, 4-number codes
META = ["debug=fast", "logger=none", "data=patches", "data.patch=8", "data.size=null", "data.generated=3"]
META += ["data.patches_per_image=16", "data.n_val=4", "data.n_test=4", "data.batch_size=8", "network=siren"]
META += ["network.n_neurons=16", "cond=film", "cond.scale=false", "cond.identity_init=false", "model.latent_dim=4"]
META += ["model.latent_source=meta", "trainer.max_steps=8", "log.val_every_n_steps=8", "~callbacks.progress_gif"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("coinpp")
    train(compose_run_config([*META, "~callbacks.panels"], folder / "run"))
    GlobalHydra.instance().clear()
    return folder / "run"


@pytest.fixture(scope="module")
def coded(run_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A 20 x 13 image (not a multiple of the 8 x 8 patches) compressed at 5 bits: its file and report."""
    folder = tmp_path_factory.mktemp("coded")
    Image.fromarray(smooth_image(20, 13)).save(folder / "image.png")
    report = load_script("coinpp").main(
        ["compress", str(run_dir), str(folder / "image.png"), "--out", str(folder / "a.nfm")]
    )
    return {"folder": folder, "report": report, "data": (folder / "a.nfm").read_bytes()}


def test_tiles_are_coinpp_patchers_reflect_padded_unfold_and_fold_back() -> None:
    image = torch.randint(0, 256, (20, 13, 3), dtype=torch.uint8)
    patches, grid = tile(image, 8)
    assert grid == (3, 2) and patches.shape == (6, 8, 8, 3)
    # COIN++'s Patcher: reflect padding at the bottom and right, then unfold with stride = kernel
    chw = torch.nn.functional.pad(image.permute(2, 0, 1)[None].float(), (0, 3, 0, 4), mode="reflect")
    theirs = torch.nn.functional.unfold(chw, kernel_size=8, stride=8).reshape(3, 8, 8, -1).permute(3, 1, 2, 0)
    assert torch.equal(patches.float(), theirs)
    assert torch.equal(untile(patches, 20, 13), image)
    tiny = torch.randint(0, 256, (3, 2, 3), dtype=torch.uint8)  # padding longer than the image: reflected again
    assert torch.equal(untile(tile(tiny, 8)[0], 3, 2), tiny)


def test_the_quantiser_is_coinpps() -> None:
    codes = torch.randn(40, 4, dtype=torch.float64) * 0.3 + 0.1
    mean, std, bits = float(codes.mean()), float(codes.std()), 5
    lo, hi = float(np.float32(mean - STD_RANGE * std)), float(np.float32(mean + STD_RANGE * std))
    prior = Prior(3, bits, STD_RANGE, mean, std, lo, hi, [0] * 32, 40)
    # quantization.py's Quantizer.quantize, written out
    norm = ((codes - mean) / std).clamp(-STD_RANGE, STD_RANGE) / (2 * STD_RANGE) + 0.5
    q = torch.round(norm * (2**bits - 1))
    deq = ((q / (2**bits - 1)) - 0.5) * 2 * STD_RANGE * std + mean
    sym = prior.symbols(codes)
    assert np.abs(sym - q.reshape(-1).numpy()).max() <= 1 and (sym == q.reshape(-1).numpy()).mean() > 0.95
    same = torch.from_numpy(sym == q.reshape(-1).numpy()).reshape(40, 4)
    assert torch.allclose(prior.codes(sym, 4).double()[same], deq[same], atol=1e-5)


def test_the_round_trip_scores_what_compress_reported(run_dir: Path, coded: dict) -> None:
    folder, report, data = coded["folder"], coded["report"], coded["data"]
    assert report["bpp"] == 8 * len(data) / (20 * 13) and report["bytes"] == len(data)
    args = ["decompress", str(run_dir), str(folder / "a.nfm"), "--out", str(folder / "a.png")]
    levels = load_script("coinpp").main([*args, "--reference", str(folder / "image.png")])
    decoded = np.array(Image.open(folder / "a.png"))
    assert decoded.shape == (20, 13, 3) and np.array_equal(decoded, levels.numpy())
    target = torch.from_numpy(smooth_image(20, 13)).float() / 255
    mse = float((torch.from_numpy(decoded).float() / 255 - target).pow(2).mean())
    assert abs(-10 * np.log10(mse) - report["psnr"]) < 0.01
    # 6 tiles x 4 entries at 5 bits: the rANS payload is within a few words of the symbols' information
    payload = len(data) - HEAD.size - CRC.size
    assert report["bpp_coinpp"] * 20 * 13 <= 8 * payload <= report["bpp_coinpp"] * 20 * 13 + 64 + 32


def test_more_bits_cost_more_and_fit_no_worse(run_dir: Path, coded: dict) -> None:
    run = load_meta_run(run_dir)
    image = torch.from_numpy(smooth_image(20, 13))
    low, high = encode_image(run, image, 2), encode_image(run, image, 8)
    assert high.info_bits > low.info_bits and high.psnr > low.psnr - 0.05
    assert (run.prior_path(3, 8)).is_file() and prior_for(run, 3, 8).patches == 32  # 2 images x 16 training patches
    stale = json.loads(run.prior_path(3, 8).read_text()) | {"weights": "00000000", "counts": [1] * 256}
    run.prior_path(3, 8).write_text(json.dumps(stale))  # as if measured before the run was trained again
    assert prior_for(run, 3, 8, make=False).counts == [1] * 256  # a decoder reads it as it is
    assert prior_for(run, 3, 8).weights == f"{run.digest():08x}" and sum(prior_for(run, 3, 8).counts) == 32 * 4


def test_codes_fitted_once_serve_every_bits(run_dir: Path) -> None:
    run = load_meta_run(run_dir)
    image = torch.from_numpy(smooth_image(20, 13))
    first = encode_image(run, image, 5)
    again, fresh = encode_image(run, image, 6, fitted=first.fitted), encode_image(run, image, 6)
    assert again.data == fresh.data and again.psnr == fresh.psnr  # the same file as fitting again
    assert again.encode_s >= first.fitted.seconds > 0  # its encode time counts the fit it reused
    with pytest.raises(ValueError, match="not this image's"):  # 1 tile, where the codes are of 6
        encode_image(run, torch.from_numpy(smooth_image(8, 8)), 5, fitted=first.fitted)


def refused(run_dir: Path, folder: Path, data: bytes, match: str, run: Path | None = None) -> None:
    src, out = folder / "x.nfm", folder / "out" / "x.png"
    src.write_bytes(data)
    with pytest.raises(UserError, match=match) as e:
        load_script("coinpp").main(["decompress", str(run or run_dir), str(src), "--out", str(out)])
    assert "\n" not in str(e.value)
    assert not out.parent.exists() or not any(out.parent.iterdir())  # nothing written, no temporary left


def with_crc(body: bytes) -> bytes:
    return body + CRC.pack(zlib.crc32(body))


def test_a_truncated_corrupted_or_foreign_file_is_one_line(run_dir: Path, coded: dict, tmp_path: Path) -> None:
    data = coded["data"]
    refused(run_dir, tmp_path, data[:-3], "checksum mismatch")
    refused(run_dir, tmp_path, data[:10], "too short")
    flipped = bytearray(data)
    flipped[HEAD.size] ^= 0x04  # one bit of the codes
    refused(run_dir, tmp_path, bytes(flipped), "checksum mismatch")
    refused(run_dir, tmp_path, b"\x89PNG" + data[4:], "not an .nfm file")
    magic, version, h, w, bits, steps, dig = HEAD.unpack_from(data)
    # a file of a bigger image than its payload holds, CRC made right: more codes than the words decode to
    bigger = with_crc(HEAD.pack(magic, version, 200, 200, bits, steps, dig) + data[HEAD.size : -CRC.size])
    refused(run_dir, tmp_path, bigger, "needs 2500 code entries")
    # another prior (steps it was not coded with): none beside the run, or another digest
    refused(
        run_dir,
        tmp_path,
        with_crc(HEAD.pack(magic, version, h, w, bits, 7, dig) + data[HEAD.size : -CRC.size]),
        "no prior",
    )
    other = with_crc(HEAD.pack(magic, version, h, w, bits, steps, dig ^ 1) + data[HEAD.size : -CRC.size])
    refused(run_dir, tmp_path, other, "another network or prior")


def test_a_run_that_is_not_meta_learned_is_refused(run_dir: Path, tmp_path: Path, coded: dict) -> None:
    ckpt = read_checkpoint(run_dir / "checkpoints" / "last.ckpt")
    ckpt["nfields_config"]["model"]["latent_source"] = "autodecoder"
    torch.save(ckpt, tmp_path / "auto.ckpt")
    refused(run_dir, tmp_path, coded["data"], "latent source is autodecoder", run=tmp_path / "auto.ckpt")
    with pytest.raises(UserError, match="--bits=13"):
        encode_image(load_meta_run(run_dir), torch.from_numpy(smooth_image(8, 8)), 13)
    assert struct.calcsize("<4sBHHBBI") == HEAD.size == 15


def test_rd_codes_a_folder_at_full_size_portrait_and_landscape(run_dir: Path, tmp_path: Path) -> None:
    """`rd` with no --size codes every image of a folder as it is (a portrait one stays portrait), decodes each
    file to the PSNR compress reported, and averages per-image bpp and PSNR (COIN's and COIN++'s mean)."""
    images = tmp_path / "images"
    images.mkdir()
    Image.fromarray(smooth_image(20, 13)).save(images / "a_portrait.png")
    Image.fromarray(smooth_image(13, 20)[::-1].copy()).save(images / "b_landscape.png")
    out = tmp_path / "rd"
    args = ["rd", "--runs", str(run_dir), "--images", str(images), "--bits", "3", "5", "--classical", "jpeg"]
    result = load_script("coinpp").main([*args, "--out", str(out)])
    assert [p["bits"] for p in result["points"]] == [3, 5] and result["size"] is None
    for point in result["points"]:
        members = point["members"]
        assert [m["image"] for m in members] == ["a_portrait.png", "b_landscape.png"]
        for m, shape in zip(members, [(20, 13, 3), (13, 20, 3)], strict=True):
            assert m["pixels"] == 260 and m["bpp"] == 8 * m["bytes"] / 260
            assert abs(m["psnr_decoded"] - m["psnr"]) < 0.01
            assert np.array(Image.open(m["file"].replace(".nfm", ".png"))).shape == shape
        assert point["psnr"] == pytest.approx(np.mean([m["psnr"] for m in members]))
        assert point["bpp"] == pytest.approx(np.mean([m["bpp"] for m in members]))
    assert result["points"][1]["bytes"] > result["points"][0]["bytes"]  # 5 bits cost more than 3
    assert {c["codec"] for c in result["classical"]} == {"jpeg"} and result["classical"][0]["images"] == 2
    assert all((out / f"coinpp_rd.{ext}").is_file() for ext in ("json", "md", "png"))
