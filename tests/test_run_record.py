"""What a run reports is what happened: the final step's validation, and a resumed run's whole record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nfields.run.train import train

TINY = ["debug=fast", "logger=none", "data.size=16", "log.gif_every_n_steps=5"]
COLLECTION = ["data=synthetic", "data.n_images=16", "data.size=8", "data.batch_size=4", "data.n_val=4"]
COLLECTION += ["data.n_test=4", "model.latent_dim=4", "model.tto_steps=2", "model.val_tto_steps=1"]


def read(run: Path, name: str) -> dict:
    return json.loads((run / name).read_text())


@pytest.mark.parametrize(
    "over",
    [["model.steps_per_call=1"], ["model=many", "members.seeds=2", "model.steps_per_call=1"], COLLECTION],
    ids=["single", "many", "collection"],
)
def test_the_last_step_is_validated_when_it_is_not_a_multiple(make_cfg, capsys, tmp_path: Path, over) -> None:
    """trainer.max_steps=15, validation every 10: metrics.json, history.json, the closing line and the
    optimised metric all carry step 15's val/psnr (before: step 10's, next to step 15's test/psnr)."""
    cfg = make_cfg(*TINY, *over, "trainer.max_steps=15", "log.val_every_n_steps=10")
    capsys.readouterr()
    returned = train(cfg)
    run = Path(cfg.run_dir)
    history, metrics = read(run, "history.json")["val"], read(run, "metrics.json")
    assert [row["step"] for row in history] == [10, 15]
    assert metrics["step"] == 15 and metrics["val/psnr"] == history[-1]["val/psnr"] != history[0]["val/psnr"]
    assert returned == metrics["val/psnr"]  # what Optuna gets
    assert f"val {metrics['val/psnr']:.2f} dB" in capsys.readouterr().out.strip().splitlines()[-1]
