"""model=many: the members table and each member's render, so a many-fields run reads like a multirun.

After testing, in the run directory:
  members.csv            one row per member: id, image, name, seed, lr, each swept key, then every metric;
  members_history.json   every validation's per-member val/* (the curves scripts/compare.py draws) and
                         every logged step's per-member training loss;
  members/<id>.png       each member's test render (another domain: its picture, and members/<id>.wav, .mp4
                         or .npy: the render in the domain's own format, as a single run's prediction.*).
W&B gets the table as `test/members` (the montage is the test/reconstruction panel).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import imageio.v3 as iio
from pytorch_lightning import Callback, LightningModule, Trainer
from pytorch_lightning.loggers import WandbLogger
from pytorch_lightning.utilities import rank_zero_only, rank_zero_warn

from nfields.core.files import atomic_path
from nfields.core.media import to_uint8
from nfields.lit.many import ManyFieldsModule


def write_members_csv(path: Path, rows: list[dict[str, Any]]) -> list[str]:
    """rows -> a CSV with the union of their keys as columns (spec columns first); returns the columns."""
    columns = list(dict.fromkeys(k for r in rows for k in r))
    with atomic_path(path) as tmp, tmp.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns)
        w.writeheader()
        w.writerows(rows)
    return columns


class MembersTable(Callback):
    def __init__(self, run_dir: str) -> None:
        self.run_dir = Path(run_dir)
        self.history: list[dict[str, Any]] = []

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.sanity_checking or not isinstance(pl_module, ManyFieldsModule):
            return
        self.history.append({"step": trainer.global_step, "members": pl_module.member_metrics.get("val", [])})

    @rank_zero_only
    def on_test_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not isinstance(pl_module, ManyFieldsModule):
            return
        rows = pl_module.member_rows()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        columns = write_members_csv(self.run_dir / "members.csv", rows)
        history = {"val": self.history, "train": pl_module.train_history}
        (self.run_dir / "members_history.json").write_text(json.dumps(history) + "\n")
        if pl_module.last_render is not None:
            folder = self.run_dir / "members"
            folder.mkdir(exist_ok=True)
            for m, img in zip(pl_module.members, pl_module.last_render, strict=True):
                iio.imwrite(folder / f"{m.id}.png", to_uint8(img))
            pl_module.write_member_media(folder)
        for lg in trainer.loggers:
            if isinstance(lg, WandbLogger):
                try:  # W&B problems never fail a run (the table is in members.csv)
                    lg.log_table(key="test/members", columns=columns, data=[[r.get(c) for c in columns] for r in rows])
                except Exception as e:  # noqa: BLE001
                    rank_zero_warn(f"W&B could not log test/members ({type(e).__name__}: {e}); see members.csv")
