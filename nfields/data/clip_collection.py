"""data=audio_collection, data=video_collection: a set of clips (data/clips.py) as a collection, for one
conditional field over many clips (model=collection, cond=concat|film|hypernet), as the image collections are.

The set is a folder of clips (`root: null`: a generated set); with `<root>/train/` and `<root>/test/` subfolders
those are the training and test pools, else test clips are taken from the one pool (data/collection.py splits
it: val = the last n_val clips, test = the n_test before them). Each clip is read once, with the single clip's
crop and size keys, and kept as read (video: uint8); every clip must have the first one's shape.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from nfields.core.checks import check_arg, nullable, string
from nfields.core.media import as_float
from nfields.data.clips import AudioClips, Clips, VideoClips
from nfields.data.collection import CollectionDataModule


class ClipPool(Dataset):
    """The clips of a set, each read on first use and kept: item i -> float (*grid, C) in [0, 1]."""

    def __init__(self, clips: Clips) -> None:
        self.clips = clips
        self.kept: dict[int, torch.Tensor] = {}

    def __len__(self) -> int:
        return self.clips.n

    def __getitem__(self, i: int) -> torch.Tensor:
        if i not in self.kept:
            clip = self.clips.clip(i)
            if self.kept:  # every clip has the first one read's shape: they stack into batches
                first = next(iter(self.kept))
                self.clips.check_shapes({first: self.kept[first], i: clip})
            self.kept[i] = clip
        return as_float(self.kept[i])


def pools(root: str | None, make: Any) -> tuple[ClipPool, ClipPool | None]:
    """(training pool, test pool or None) of the set at `root`: <root>/train and <root>/test when both exist."""
    check_arg("data.root", root, nullable(string()))
    split = root is not None and all((Path(root).expanduser() / s).is_dir() for s in ("train", "test"))
    if not split:
        return ClipPool(make(root)), None
    return ClipPool(make(root, "train")), ClipPool(make(root, "test"))


class AudioCollectionDataModule(CollectionDataModule):
    """data=audio_collection: WAV clips (T, C) in [0, 1], cropped (offset, duration) and resampled (size) as
    data=audio does one; batches of clips, data.pixels_per_image samples of each per step."""

    domain = "audio"
    scores = ("snr",)  # as data=audio: the [-1, 1] samples' energy over the error's, in dB

    def __init__(
        self,
        root: str | None = None,
        offset: float = 0.0,
        duration: float | None = None,
        size: int | None = None,
        generated: int = 16,
        **kw: Any,
    ) -> None:
        super().__init__(size=None, **kw)  # each clip is resampled by its reader, not as an image

        def make(folder: str | None, split: str | None = None) -> AudioClips:
            return AudioClips(folder, split, None, offset, duration, size, generated)

        self.pools = pools(root, make)  # the folders listed now: a missing or empty one fails before any work

    def load_pools(self) -> tuple[ClipPool, ClipPool | None]:
        return self.pools


class VideoCollectionDataModule(CollectionDataModule):
    """data=video_collection: video clips (T, H, W, C), their first `frames` frames at `stride`, each frame
    resized to size x size, as data=video does one; batches of clips, data.pixels_per_image cells of each."""

    domain = "video"
    ssim_frames = True

    def __init__(
        self,
        root: str | None = None,
        frames: int | None = None,
        stride: int = 1,
        size: int | None = None,
        generated: int = 16,
        **kw: Any,
    ) -> None:
        super().__init__(size=None, **kw)

        def make(folder: str | None, split: str | None = None) -> VideoClips:
            return VideoClips(folder, split, None, frames, stride, size, generated)

        self.pools = pools(root, make)

    def load_pools(self) -> tuple[ClipPool, ClipPool | None]:
        return self.pools
