"""Train a neural field: `python train.py encoding=fourier network=mlp ...` (see README)."""

import hydra
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path="configs", config_name="train")
def main(cfg: DictConfig) -> float | None:
    from nfields.train import train  # imported here so `--help` and `--cfg` stay fast

    return train(cfg)


if __name__ == "__main__":
    main()
