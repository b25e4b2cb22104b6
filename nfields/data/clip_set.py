"""data=audio_set, data=video_set: one clip of a set of clips (data/clips.py), as data=image_set is one image of a set.

`data.index` picks the clip a single run fits; `data.limit` keeps the first N clips; model=many fits every clip
(or `members.images`), each member exactly the field a single run of its clip would be. Every other key is the
single clip's (data=audio: offset, duration, size; data=video: frames, stride, size), applied to every clip.
`data.root: null` is a generated set (chirps; moving shapes at different speeds and colours).
"""

from __future__ import annotations

import torch

from nfields.core.checks import check_arg, integer
from nfields.core.errors import DataError
from nfields.data.audio import AudioDataModule
from nfields.data.clips import AudioClips, Clips, VideoClips
from nfields.data.video import VideoDataModule
from nfields.tasks.base import Task

Members = list[tuple[int, str, torch.Tensor]]  # (index in the set, name, the clip (*shape, C))


def set_members(clips: Clips, index: int, signal: torch.Tensor, indices: list[int] | None) -> Members:
    """Clips `indices` of the set (None: every clip) -> (index, name, clip); clip `index` is `signal`, read already.
    The clips must share one shape (one line otherwise, naming the clip)."""
    indices = list(range(clips.n)) if indices is None else indices
    bad = [i for i in indices if not (0 <= i < clips.n)]
    if bad:
        raise DataError(f"members.images: {bad} not in the set's {clips.n} clips (0..{clips.n - 1})")
    read = {i: signal if i == index else clips.clip(i) for i in indices}
    clips.check_shapes({index: signal, **read})
    return [(i, clips.names[i], read[i]) for i in indices]


class ClipSet:
    """What a set's datamodule adds to its single-clip one: clip `index` of `clips` is the signal, and model=many
    fits every clip (or `indices`). Subclasses set `clips` and `index` in their constructor."""

    clips: AudioClips | VideoClips
    index: int

    def load(self) -> torch.Tensor:
        clip = self.clips.clip(self.index)  # audio (T, C) in [0, 1]; video (T, H, W, C) uint8
        self.rate = self.clips.rate
        return clip

    def member_images(self, indices: list[int] | None = None) -> Members:
        """The clips model=many fits, as (index, name, signal): every clip of the set, or `indices`."""
        self.setup()
        return set_members(self.clips, self.index, self.signal, indices)


class AudioSetDataModule(ClipSet, AudioDataModule):
    """data=audio_set: clip `index` of a folder of WAVs (T, C), fitted in [0, 1] as data=audio fits one."""

    def __init__(
        self,
        root: str | None = None,
        split: str | None = None,
        index: int = 0,
        limit: int | None = None,
        offset: float = 0.0,
        duration: float | None = None,
        size: int | None = None,
        batch_size: int | None = None,
        generated: int = 4,
        task: Task | None = None,
    ) -> None:
        super().__init__(None, offset, duration, size, batch_size, task)
        check_arg("data.index", index, integer(lo=0))
        self.clips, self.index = AudioClips(root, split, limit, offset, duration, size, generated), index


class VideoSetDataModule(ClipSet, VideoDataModule):
    """data=video_set: clip `index` of a folder of videos (T, H, W, C) uint8, as data=video holds one."""

    def __init__(
        self,
        root: str | None = None,
        split: str | None = None,
        index: int = 0,
        limit: int | None = None,
        frames: int | None = None,
        stride: int = 1,
        size: int | None = None,
        batch_size: int | None = None,
        generated: int = 4,
        task: Task | None = None,
    ) -> None:
        super().__init__(None, frames, stride, size, batch_size, task)
        check_arg("data.index", index, integer(lo=0))
        self.clips, self.index = VideoClips(root, split, limit, frames, stride, size, generated), index
