"""data=faces: skimage's bundled LFW subset as a collection: shapes, a split that is the same in every run and
keeps test faces out of training, the non-face crops on request, and a conditional field that trains on it."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data
import torch

from nfields.core.errors import ConfigError
from nfields.data.faces import N_FACES, FacesDataModule
from nfields.run.build import build_datamodule
from tests.test_collections import trained_metrics


def split_images(dm: FacesDataModule) -> dict[str, torch.Tensor]:
    dm.setup()
    return {k: torch.stack([s[i][1] for i in range(len(s))]) for k, s in dm.splits.items()}


def test_the_faces_split_into_train_val_and_test(make_cfg) -> None:
    dm = build_datamodule(make_cfg("data=faces"))
    got = split_images(dm)
    assert {k: tuple(v.shape) for k, v in got.items()} == {
        "train": (70, 25, 25, 1),
        "val": (10, 25, 25, 1),
        "test": (20, 25, 25, 1),
    }
    assert all(v.dtype == torch.float32 and 0 <= v.min() and v.max() <= 1 for v in got.values())
    faces = torch.from_numpy(skimage.data.lfw_subset()[:N_FACES]).float().unsqueeze(-1)  # (100, 25, 25, 1)
    assert torch.equal(torch.cat([got["train"], got["test"], got["val"]]), faces)  # every face once, in order
    seen = got["train"].flatten(1)
    for split in ("val", "test"):
        assert not (got[split].flatten(1)[:, None] == seen[None]).all(-1).any()  # never a training face
    again = split_images(build_datamodule(make_cfg("data=faces", "seed=5")))
    assert all(torch.equal(got[k], again[k]) for k in got)  # the same split in every run


def test_non_faces_and_bad_values() -> None:
    dm = FacesDataModule(non_faces=True, n_val=10, n_test=20, limit=50)
    assert (dm.n_train, len(dm.splits["test"])) == (50, 20)
    assert np.isclose(dm.splits["val"][9][1].squeeze(-1).double().numpy(), skimage.data.lfw_subset()[-1]).all()
    with pytest.raises(ConfigError, match="^data.non_faces=yes: must be true or false$"):
        FacesDataModule(non_faces="yes")
    with pytest.raises(ConfigError, match="^data.n_val=90: with data.n_test=20, leaves none of the 100 images"):
        FacesDataModule(n_val=90, n_test=20).setup()


@pytest.mark.parametrize("source", ["autodecoder", "meta"])
def test_a_conditional_field_trains_on_the_faces(make_cfg, source: str) -> None:
    over = ["debug=fast", "data=faces", "logger=none", "data.size=null", "data.n_test=8", "data.batch_size=8"]
    over += ["encoding.n_features=16", "network.n_neurons=32", "model.latent_dim=8", "cond=film"]
    over += ["cond.identity_init=false", f"model.latent_source={source}", "model.tto_steps=3", "model.val_tto_steps=1"]
    m = trained_metrics(make_cfg(*over, "trainer.max_steps=4", "log.val_every_n_steps=4"))
    assert m["step"] == 4 and np.isfinite(m["test/psnr"])
