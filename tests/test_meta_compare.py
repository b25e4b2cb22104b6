"""scripts/meta_compare.py: PSNR against test-time steps for meta, auto-decoder, encoder and fields from scratch;
and the TTO PSNR keys (`<stage>/psnr_tto<k>`) the auto-decoder and the encoder write to metrics.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from nfields.lit.tto import TTO_STEPS, optimize_codes
from nfields.run.build import build_datamodule, build_module
from scripts import meta_compare
from tests.test_collections import TINY, batch, trained_metrics


def test_tto_curve_holds_the_reported_steps_and_only_those_asked_for(make_cfg) -> None:
    cfg = make_cfg(*TINY, "cond=film", "model.latent_source=autodecoder")
    dm = build_datamodule(cfg)
    module = build_module(cfg, dm)
    images = batch(dm, "test")["image"]
    full = optimize_codes(module.field, module.source, module.task, images, 100)
    assert set(TTO_STEPS) <= {s for s, _ in full.curve}  # 1 and 3 among them, though 100 // 20 = 5
    only = optimize_codes(module.field, module.source, module.task, images, 7, at={7})
    assert [s for s, _ in only.curve] == [7]  # a timing renders once, at the result


@pytest.mark.parametrize("source", ["autodecoder", "encoder"])
def test_tto_sources_write_psnr_after_each_reported_step(make_cfg, source: str) -> None:
    over = ["cond=film", f"model.latent_source={source}", "trainer.max_steps=4", "model.tto_steps=10"]
    m = trained_metrics(make_cfg(*TINY, *over, "log.val_every_n_steps=4", "model.val_tto_steps=3"))
    assert {"test/psnr_tto1", "test/psnr_tto3", "test/psnr_tto10", "val/psnr_tto1", "val/psnr_tto3"} <= m.keys()
    assert "test/psnr_tto100" not in m and "val/psnr_tto10" not in m  # past the run's tto_steps: not measured
    assert m["test/psnr_tto10"] == pytest.approx(m["test/psnr"], abs=1e-3)  # the last step is the result


@pytest.mark.slow
def test_quick_comparison_writes_its_table_plot_and_w_and_b_run(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    out = tmp_path / "cmp"
    result = meta_compare.main(["--quick", "--out", str(out), "--wandb", "offline"])
    md = (out / "meta_compare.md").read_text()
    names = ["meta", "autodecoder (TTO, Adam)", "encoder (TTO, Adam)", "from scratch (one field each)"]
    rows = [line.split(" | ")[0][2:] for line in md.splitlines() if line.startswith("| ") and " steps |" not in line]
    assert rows == names, md
    assert json.loads((out / "meta_compare.json").read_text())["protocol"]["n_test"] == 4
    assert (out / "meta_compare.png").stat().st_size > 1000
    assert list((out / "wandb").glob("offline-run-*"))  # the W&B run, offline without a login
    methods = result["methods"]
    run = {s: json.loads((out / s / "metrics.json").read_text()) for s in ("meta", "autodecoder", "encoder")}
    # the checkpoints' evaluation is the runs' own: meta's inner steps and the zero/encoder codes' renders
    for k in (0, 1, 3, 10):
        assert methods["meta"]["psnr"][k] == pytest.approx(run["meta"][f"test/psnr_step{k}"], abs=1e-4)
    for s in ("autodecoder", "encoder"):
        r = methods[f"{s} (TTO, Adam)"]
        assert r["psnr"][0] == pytest.approx(run[s]["test/psnr_tto0"], abs=1e-4)
        assert {f"test/psnr_tto{k}" for k in TTO_STEPS} <= run[s].keys()
        # each k was fitted on its own with the dense curve's pixel draws: the table's values are the curve's
        assert all(r["psnr"][k] == pytest.approx(r["curve"][k], abs=1e-5) for k in meta_compare.STEPS)
        assert r["psnr"][100] > r["psnr"][0] and all(t > 0 for t in r["seconds_per_signal"].values())
        step, target = result["catch_up"][f"{s} (TTO, Adam)"]
        if step is not None:  # the first step at or above meta's PSNR after its inner steps
            assert r["curve"][step] >= target and all(r["curve"][k] < target for k in r["curve"] if k < step)
        assert all(c > 0 for c in r["cpu_seconds_per_signal"].values())
    config = {  # the resolved configs the runs' checkpoints store
        r: torch.load(out / r / "checkpoints" / "last.ckpt", weights_only=False)["nfields_config"]
        for r in ("meta", "scratch_1")
    }
    assert config["scratch_1"]["network"] == config["meta"]["network"]  # from scratch: the same network, no code
    assert config["scratch_1"]["encoding"] == config["meta"]["encoding"]
    scratch = methods["from scratch (one field each)"]
    assert scratch["psnr"][100] > scratch["psnr"][1] + 3  # 8x8 images: a field each fits them
    assert 0 not in scratch["psnr"]
    # --reuse tables the finished runs again without training them
    stamp = (out / "meta" / "metrics.json").stat().st_mtime_ns
    again = meta_compare.main(["--quick", "--out", str(out), "--wandb", "disabled", "--reuse"])
    assert (out / "meta" / "metrics.json").stat().st_mtime_ns == stamp
    assert again["methods"]["meta"]["psnr"] == pytest.approx(methods["meta"]["psnr"])


def test_bad_arguments_are_one_line(capsys) -> None:
    with pytest.raises(SystemExit):
        meta_compare.parse_args(["--steps", "-1"])
    assert "--steps and --n-test must be >= 1" in capsys.readouterr().err


def test_data_overrides_reach_the_collections_only_and_bad_ones_stop_before_training(tmp_path: Path, capsys) -> None:
    """data.* overrides are the collection runs' (the from-scratch fields fit the saved test images, whose
    image_set has no such key); an unknown key is one line before anything trains."""
    a = meta_compare.parse_args(["--quick", "data.pixels_per_image=null", "cond.scale=true", "network.n_neurons=16"])
    over = meta_compare.scratch_overrides(a, tmp_path / "t.npz", 3)
    assert "network.n_neurons=16" in over and not any(o.startswith(("data.pixels", "cond.")) for o in over)
    assert "data=synthetic" not in over and over.count("data=image_set") == 1  # --quick's data is the collection's
    assert "data.pixels_per_image=null" in meta_compare.collection_overrides(a, "meta")
    with pytest.raises(SystemExit):
        meta_compare.main(["--quick", "--out", str(tmp_path / "bad"), "--wandb", "disabled", "model.lrr=1"])
    assert "model.lrr" in capsys.readouterr().err and not (tmp_path / "bad" / "meta").exists()
