"""Train a neural field: `python train.py encoding=fourier network=mlp ...` (see README)."""

import hydra
from omegaconf import DictConfig

from nfields.run.compose import register_configs

register_configs()  # nodes YAML cannot express (members.sweep takes any key), before Hydra composes


@hydra.main(version_base="1.3", config_path="configs", config_name="train")
def main(cfg: DictConfig) -> float | None:
    from nfields.run.exits import report_errors  # user errors: one line, non-zero exit (docs/reliability.md)
    from nfields.run.train import train  # imported here so `--help` and `--cfg` stay fast

    return report_errors(train, cfg, batch_size=cfg.get("data", {}).get("batch_size"))


if __name__ == "__main__":
    import sys
    from pathlib import Path

    from nfields.run.options import check_options  # `encoding=fourire`: one line with the choices

    check_options(sys.argv[1:], Path(__file__).resolve().parent / "configs")
    main()
