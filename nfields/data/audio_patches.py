"""data=audio_patches: short pieces of audio clips as a collection (COIN++'s LibriSpeech protocol: 200-sample
patches, each one signal of a meta-learned field).

The clips are data=audio_collection's (data/clips.py): a folder of .wav files, cropped by `data.offset` and
`data.duration`, with `<root>/train/` and `<root>/test/` as the training and test clips when both exist; `root:
null` is a generated set of chirps. Each clip is cut into pieces of `data.patch` samples starting every
`data.stride` samples (the default, stride = patch: consecutive pieces that do not overlap); `data.patches_per_clip`
keeps that many of them at random (seeded by `data.seed`), null every one. Clips may differ in length.

Unseen pieces come from unseen clips: validation pieces from the last clips, held out whole (as many as
`data.n_val` pieces need); without a test folder, test pieces from the clips before those (as many as `data.n_test`
pieces need). A pool lists piece 1 of every clip before piece 2 of any, a clip's pieces in a seeded random order,
so `data.limit` and `data.n_test` take some of every clip, from all along it. `data.size` averages every piece
down to that many samples (null keeps `data.patch`).
Pieces are stored as float (N, patch, C) in [0, 1]: 800 bytes a 200-sample mono piece.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from nfields.core.checks import POSITIVE_INT, check_arg, integer, nullable, string
from nfields.core.errors import ConfigError, DataError
from nfields.data.clips import AudioClips
from nfields.data.collection import CollectionDataModule
from nfields.data.grid import resample
from nfields.data.patches import sub_seed


class Pieces(Dataset):
    """An in-memory pool of pieces (N, patch, C) float in [0, 1]: item i -> (patch, C)."""

    def __init__(self, pieces: torch.Tensor) -> None:
        self.pieces = pieces

    def __len__(self) -> int:
        return self.pieces.shape[0]

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.pieces[i]


def starts(t: int, patch: int, stride: int, count: int | None, gen: torch.Generator) -> torch.Tensor:
    """The first samples (k,) of `count` pieces (None: all) of a t-sample clip, on the grid of step `stride`,
    drawn without replacement, in the drawn (seeded, random) order: a pool that takes a clip's first pieces
    (data.limit, data.n_test) then takes them from all along it, not from its start."""
    grid = torch.arange(0, t - patch + 1, stride)  # (G,)
    return grid[torch.randperm(len(grid), generator=gen)[: len(grid) if count is None else count]]  # (k,)


class AudioPatchesDataModule(CollectionDataModule):
    """data=audio_patches: pieces (patch, C) of audio clips, those of unseen clips to validate and test on."""

    domain = "audio"
    scores = ("snr",)  # as data=audio_collection: the [-1, 1] samples' energy over the error's, in dB

    def __init__(
        self,
        root: str | None = None,
        offset: float = 0.0,
        duration: float | None = None,
        patch: int = 200,
        stride: int | None = None,
        patches_per_clip: int | None = None,
        seed: int = 0,
        generated: int = 16,
        size: int | None = None,
        **kw: Any,
    ) -> None:
        check_arg("data.root", root, nullable(string()))
        check_arg("data.patch", patch, POSITIVE_INT)
        check_arg("data.stride", stride, nullable(POSITIVE_INT))
        check_arg("data.patches_per_clip", patches_per_clip, nullable(POSITIVE_INT))
        check_arg("data.seed", seed, integer())
        check_arg("data.size", size, nullable(POSITIVE_INT))
        super().__init__(size=None, **kw)  # pieces are cut at the clips' own rate, then averaged down to `size`
        self.piece_size = size
        self.patch, self.stride, self.patches_per_clip, self.seed = patch, stride or patch, patches_per_clip, seed
        split = root is not None and all((Path(root).expanduser() / s).is_dir() for s in ("train", "test"))
        roles = ("train", "test") if split else (None,)
        # the folders are listed now: a missing or empty one fails before any clip is read
        self.sets = [AudioClips(root, s, None, offset, duration, None, generated) for s in roles]

    def pieces(self, role: int, i: int, clip: torch.Tensor) -> torch.Tensor:
        """Clip i's pieces (k, patch, C): the same for the same data.seed, role and clip."""
        if clip.shape[0] < self.patch:
            name = self.sets[role].names[i]
            raise ConfigError("data.patch", self.patch, f"is longer than clip {name} ({clip.shape[0]} samples)")
        gen = torch.Generator().manual_seed(sub_seed(self.seed, role, i))
        first = starts(clip.shape[0], self.patch, self.stride, self.patches_per_clip, gen)  # (k,)
        name = f"a piece of {self.sets[role].names[i]}"
        return torch.stack([resample(clip[s : s + self.patch], self.piece_size, name) for s in first.tolist()])

    def cut(self, clips: list[torch.Tensor]) -> torch.Tensor:
        """Pieces of several clips (each (k_i, patch, C)) in round-robin order -> (sum k_i, patch, C)."""
        keyed = [((j, order), p) for order, ps in enumerate(clips) for j, p in enumerate(ps)]
        return torch.stack([p for _, p in sorted(keyed, key=lambda item: item[0])])

    def hold_out(self, pieces: list[torch.Tensor], want: int, key: str) -> int:
        """How many of the last clips of `pieces` give `want` pieces, leaving one clip at least."""
        total, k = 0, 0
        while total < want and k < len(pieces) - 1:
            k += 1
            total += len(pieces[-k])
        if total < want:
            raise ConfigError(
                key,
                want,
                f"the {len(pieces) - 1} clips that can be held out (one stays to train on) give {total} "
                "pieces; lower it or add clips",
            )
        return k

    def load_pools(self) -> tuple[Pieces, Pieces]:
        read = [[s.clip(i) for i in range(s.n)] for s in self.sets]  # (T_i, C) float in [0, 1] each
        channels = {c.shape[-1] for clips in read for c in clips}
        if len(channels) > 1:
            raise DataError(f"{self.sets[0].where()}: its clips mix {sorted(channels)} channels; use clips of one kind")
        pieces = [[self.pieces(role, i, c) for i, c in enumerate(clips)] for role, clips in enumerate(read)]
        train = pieces[0]
        v = self.hold_out(train, self.n_val, "data.n_val")
        val, train = train[len(train) - v :], train[: len(train) - v]
        if len(pieces) > 1:
            test = pieces[1]
        else:  # no test folder: the clips before validation's, held out whole too
            t = self.hold_out(train, self.n_test or 1, "data.n_test")
            test, train = train[len(train) - t :], train[: len(train) - t]
        pool = torch.cat([self.cut(train), self.cut(val)[: self.n_val]])  # the base's split: val = the last n_val
        return Pieces(pool), Pieces(self.cut(test))
