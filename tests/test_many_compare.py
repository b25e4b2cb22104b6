"""scripts/compare.py reads a many-fields run (model=many) like the multirun it replaces: one row per member."""

from __future__ import annotations

import json
from pathlib import Path

from omegaconf import OmegaConf

from nfields.analysis.report import differing_keys, find_runs, history, run_labels, run_value
from nfields.lit.callbacks.members import write_members_csv

CONFIG = {"seed": 0, "data": {"index": 0}, "encoding": {"sigma": 10.0}, "model": {"lr": 1e-3}}


def hydra_dir(d: Path, overrides: list[str], config: dict) -> Path:
    (d / ".hydra").mkdir(parents=True)
    OmegaConf.save(config, d / ".hydra" / "config.yaml")
    OmegaConf.save(overrides, d / ".hydra" / "overrides.yaml")
    OmegaConf.save({"hydra": {"runtime": {"choices": {"encoding": "fourier"}}}}, d / ".hydra" / "hydra.yaml")
    return d


def test_a_sigma_sweep_reads_the_same_as_a_multirun_or_as_members(tmp_path: Path) -> None:
    psnr = {5: 21.5, 10: 23.25}
    for job, sigma in enumerate(psnr):  # python train.py -m encoding.sigma=5,10
        config = {**CONFIG, "encoding": {"sigma": sigma}}
        d = hydra_dir(tmp_path / "multi" / str(job), [f"encoding.sigma={sigma}"], config)
        (d / "metrics.json").write_text(json.dumps({"test/psnr": psnr[sigma], "step": 100}))
    # python train.py model=many members.sweep.encoding.sigma=[5,10]
    d = hydra_dir(tmp_path / "many", ["model=many", "members.sweep.encoding.sigma=[5,10]"], CONFIG)
    rows = [{"id": i, "image": 0, "name": "a.png", "seed": 0, "lr": 1e-3, "encoding.sigma": s, "test/psnr": p}
            for i, (s, p) in enumerate(psnr.items())]  # fmt: skip
    write_members_csv(d / "members.csv", rows)
    (d / "metrics.json").write_text(json.dumps({"test/psnr": 22.375, "step": 100}))
    val = [{"step": 50, "members": [{"val/psnr": 18.0}, {"val/psnr": 19.0}]}]
    (d / "members_history.json").write_text(json.dumps({"val": val}))

    multi, many = find_runs(tmp_path / "multi"), find_runs(tmp_path / "many")
    assert differing_keys(multi) == differing_keys(many) == ["encoding.sigma"]
    table = [[(run_value(r, "encoding.sigma"), r.metrics["test/psnr"], r.metrics["step"]) for r in runs]
             for runs in (multi, many)]  # fmt: skip
    assert table[0] == table[1] == [("5", 21.5, 100), ("10", 23.25, 100)]
    assert run_labels(many) == ["encoding.sigma=5", "encoding.sigma=10"]
    assert [OmegaConf.select(r.config, "encoding.sigma") for r in many] == [5, 10]  # what FFNSearch reads
    assert history(many[1]) == [(50, 19.0)] and many[1].prediction == d / "members" / "1.png"
