"""Audio and volume readers (nfields.data.audio, nfields.data.volume), the WAV writer (nfields.core.audio_io), the
generated defaults, and their one-line errors, on files the tests write themselves (the real benchmark files in
../shared/data are read when present)."""

from __future__ import annotations

import struct
import wave
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.io import wavfile

from nfields.core.audio_io import write_wav
from nfields.core.errors import ConfigError, DataError
from nfields.data.audio import chirp, read_wav
from nfields.data.volume import read_volume, sphere_volume

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
# The file's integer type, its values' offset and full scale: x = (stored - offset) / scale.
INT_TYPES = {"uint8": (np.uint8, 128, 2**7), "int16": (np.int16, 0, 2**15), "int32": (np.int32, 0, 2**31)}


def one_line(e: pytest.ExceptionInfo) -> str:
    assert "\n" not in str(e.value), str(e.value)
    return str(e.value)


def signal(t: int, c: int, seed: int = 0) -> np.ndarray:
    """(T, C) float64 samples in [-1, 1)."""
    return np.random.default_rng(seed).uniform(-1, 1, (t, c))


def write_24bit(path: Path, levels: np.ndarray, rate: int) -> None:
    """(T, C) int levels in [-2**23, 2**23) as 24-bit PCM (scipy cannot write 24-bit; the stdlib can)."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(levels.shape[1])
        w.setsampwidth(3)
        w.setframerate(rate)
        w.writeframes(b"".join(int(v).to_bytes(3, "little", signed=True) for v in levels.ravel()))


@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("kind", ["uint8", "int16", "int32", "float32", "float64"])
def test_each_sample_type_reads_back_scaled_to_minus_one_one(tmp_path: Path, kind: str, channels: int) -> None:
    x = signal(300, channels) * 0.99  # (T, C), inside every type's range (no level clipped at the top)
    if kind in INT_TYPES:
        dtype, offset, scale = INT_TYPES[kind]
        info = np.iinfo(dtype)
        stored = np.clip(np.rint(x * scale + offset), info.min, info.max).astype(dtype)
        tol = 0.5 / scale  # half a quantisation step
    else:
        stored, tol = x.astype(kind), 1e-7
    wavfile.write(tmp_path / "a.wav", 22050, stored[:, 0] if channels == 1 else stored)  # mono: a 1-D array
    y, rate = read_wav(tmp_path / "a.wav")
    assert rate == 22050 and y.dtype == torch.float32 and y.shape == (300, channels)
    assert np.abs(y.numpy() - x).max() <= tol + 1e-7
    assert y.min() >= -1 and y.max() <= 1


def test_24bit_pcm_is_scaled_by_its_full_scale(tmp_path: Path) -> None:
    levels = np.array([[0, 2**22], [-(2**23), 2**23 - 1], [-(2**21), 12345]])  # (T=3, C=2)
    write_24bit(tmp_path / "a.wav", levels, 11025)
    y, rate = read_wav(tmp_path / "a.wav")
    assert rate == 11025 and y.shape == (3, 2)
    assert torch.allclose(y, torch.from_numpy(levels / 2**23).float(), atol=2**-23)


def test_offset_and_duration_crop_exact_sample_counts(tmp_path: Path) -> None:
    x = np.arange(1000, dtype=np.int16)  # sample i holds level i: a crop shows which samples it kept
    wavfile.write(tmp_path / "a.wav", 1000, x)
    y, _ = read_wav(tmp_path / "a.wav", offset=0.25, duration=0.5)
    assert y.shape == (500, 1) and torch.equal(y[:, 0] * 2**15, torch.arange(250, 750).float())
    y, _ = read_wav(tmp_path / "a.wav", offset=0.9, duration=1.0)  # past the end: stops at the end
    assert y.shape == (100, 1) and y[0, 0] * 2**15 == 900
    assert read_wav(tmp_path / "a.wav", offset=0.0015)[0][0, 0] * 2**15 == 2  # 1.5 samples: halves round up
    assert read_wav(tmp_path / "a.wav", duration=0.0015)[0].shape == (2, 1)


def test_audio_errors_are_one_line_and_name_the_problem(tmp_path: Path) -> None:
    wavfile.write(tmp_path / "a.wav", 1000, np.zeros(100, np.int16))  # 0.1 s
    cases = [
        (dict(path=tmp_path / "nope.wav"), "audio file not found: .*nope.wav"),
        (dict(path=tmp_path), "is a folder"),
        (dict(path=tmp_path / "a.wav", offset=-1.0), r"data.offset=-1.0: .*>= 0"),
        (dict(path=tmp_path / "nope.wav", offset=-1.0), r"data.offset"),  # arguments first, before the file
        (dict(path=tmp_path / "a.wav", duration=0.0), r"data.duration=0.0: .*> 0"),
        (dict(path=tmp_path / "a.wav", duration=-2), r"data.duration=-2"),
        (dict(path=tmp_path / "a.wav", offset=0.2), r"data.offset=0.2: past the end .*0.100 s long"),
        (dict(path=tmp_path / "a.wav", duration=0.0001), r"data.duration=0.0001: the crop holds no sample"),
    ]
    for kwargs, match in cases:
        with pytest.raises(DataError, match=match) as e:
            read_wav(**kwargs)
        one_line(e)


def test_bad_wav_files_are_refused_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "text.wav").write_text("this is not a wav file, only words")
    wavfile.write(tmp_path / "good.wav", 1000, np.zeros(10, np.int16))
    (tmp_path / "cut.wav").write_bytes((tmp_path / "good.wav").read_bytes()[:20])  # inside the fmt chunk
    wavfile.write(tmp_path / "i64.wav", 1000, np.zeros(10, np.int64))
    alaw = bytearray((tmp_path / "good.wav").read_bytes())
    alaw[20:22] = struct.pack("<H", 6)  # the fmt chunk's format tag: 6 = A-law, not PCM
    (tmp_path / "alaw.wav").write_bytes(bytes(alaw))
    wavfile.write(tmp_path / "none.wav", 1000, np.zeros((0, 2), np.int16))
    wavfile.write(tmp_path / "nan.wav", 1000, np.array([0.0, np.nan], np.float32))
    cases = {
        "empty": "empty.wav: the file is empty",
        "text": "text.wav: not a readable WAV file",
        "cut": "cut.wav: not a readable WAV file",
        "i64": "i64.wav: unsupported WAV sample format int64",
        "alaw": r"alaw.wav: unsupported WAV sample format \(.*ALAW",
        "none": "none.wav: the WAV file holds no samples",
        "nan": "nan.wav: the WAV file holds NaN or inf",
    }
    for name, match in cases.items():
        with pytest.raises(DataError, match=match) as e:
            read_wav(tmp_path / f"{name}.wav")
        one_line(e)


def test_chirp_is_a_deterministic_rising_chirp_in_range() -> None:
    x = chirp(rate=8000, seconds=0.5, channels=2)
    assert x.shape == (4000, 2) and x.dtype == torch.float32 and x.abs().max() <= 1
    assert torch.equal(x, chirp(rate=8000, seconds=0.5, channels=2))
    assert not torch.equal(x[:, 0], x[:, 1])  # the channels differ (their envelopes are shifted)
    crossings = (np.diff(np.sign(x[:, 0].numpy())) != 0).astype(float)  # (T - 1,): zero crossings track frequency
    assert crossings[-400:].sum() > 5 * crossings[:400].sum() > 0
    assert chirp().shape == (8000, 1)
    for kwargs in (dict(rate=0), dict(seconds=0.0), dict(channels=0), dict(rate=8.5)):
        with pytest.raises(ConfigError) as e:
            chirp(**kwargs)
        one_line(e)


def test_real_audio_clip_when_present() -> None:
    path = SHARED / "audio" / "gt_bach.wav"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    x, rate = read_wav(path)
    assert rate == 44100 and x.shape == (308207, 1) and x.dtype == torch.float32 and 0 < x.abs().max() <= 1
    crop, _ = read_wav(path, offset=1.0, duration=0.5)
    assert crop.shape == (22050, 1) and torch.equal(crop, x[44100 : 44100 + 22050])


def test_write_wav_round_trips_within_half_a_step_and_clips(tmp_path: Path) -> None:
    x = torch.from_numpy(signal(500, 3)).float() * 1.2  # (T, C), some samples beyond +-1
    path = write_wav(tmp_path / "out" / "a.wav", x, 16000)  # the folder is made
    rate, stored = wavfile.read(path)
    assert rate == 16000 and stored.dtype == np.int16 and stored.shape == (500, 3)
    y, rate = read_wav(path)
    assert rate == 16000 and y.shape == (500, 3)
    err, inside = (y - x.clamp(-1, 1)).abs(), x.abs() < 1 - 2**-15  # (T, C)
    assert err[inside].max() <= 2**-16 and err.max() <= 2**-15  # half a step inside, one step at exactly +1
    assert y.min() == -1 and y.max() == 1 - 2**-15  # clipped to the int16 range, not wrapped around
    mono = torch.linspace(-0.5, 0.5, 64, requires_grad=True)  # (T,): one channel; a tensor with a graph is fine
    assert read_wav(write_wav(tmp_path / "m.wav", mono, 8000))[0].shape == (64, 1)


def test_write_wav_is_atomic_and_refuses_bad_samples(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "a.wav", torch.zeros(10, 1), 8000)
    before = path.read_bytes()
    with pytest.raises(ValueError, match="NaN"):
        write_wav(path, torch.tensor([[0.0], [float("nan")]]), 8000)
    with pytest.raises(ValueError, match="sample rate"):
        write_wav(path, torch.zeros(10, 1), 0)
    with pytest.raises(ValueError, match=r"\(T,\) or \(T, C\)"):
        write_wav(path, torch.zeros(2, 3, 4), 8000)
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["a.wav"]
    write_wav(path, torch.full((20, 2), 0.5), 8000)  # overwrites in place, no temporary file left
    assert read_wav(path)[0].shape == (20, 2) and sorted(p.name for p in tmp_path.iterdir()) == ["a.wav"]


def test_volume_bool_reads_as_uint8_occupancy_with_one_channel(tmp_path: Path) -> None:
    occ = np.random.default_rng(0).random((5, 4, 3)) > 0.5  # (D, H, W) bool
    np.save(tmp_path / "occ.npy", occ)
    v = read_volume(tmp_path / "occ.npy")
    assert v.dtype == torch.uint8 and v.shape == (5, 4, 3, 1) and torch.equal(v[..., 0], torch.from_numpy(occ).byte())
    np.save(tmp_path / "occ4.npy", np.stack([occ, ~occ], -1))  # (D, H, W, C=2)
    v = read_volume(tmp_path / "occ4.npy")
    assert v.shape == (5, 4, 3, 2) and torch.equal(v[..., 1], 1 - v[..., 0])


@pytest.mark.parametrize("dtype", [np.int16, np.uint8, np.float16, np.float64])
def test_numeric_volumes_read_as_float32_as_stored(tmp_path: Path, dtype: type) -> None:
    a = (np.arange(2 * 3 * 4).reshape(2, 3, 4) * 3 - 20 * (dtype != np.uint8)).astype(dtype)  # not in [0, 1]
    np.save(tmp_path / "v.npy", np.asfortranarray(a))  # stored column-major: read in (D, H, W) order all the same
    v = read_volume(tmp_path / "v.npy")
    assert v.dtype == torch.float32 and v.shape == (2, 3, 4, 1)
    assert torch.equal(v[..., 0], torch.from_numpy(a.astype(np.float32)))  # values kept, not rescaled
    v[0, 0, 0, 0] = 1.0  # a writable copy, not the memory-mapped file


def test_volume_errors_are_one_line_and_name_the_problem(tmp_path: Path) -> None:
    (tmp_path / "empty.npy").write_bytes(b"")
    (tmp_path / "text.npy").write_text("not an array")
    np.savez(tmp_path / "arch.npz", a=np.zeros((2, 2, 2)))
    np.save(tmp_path / "good.npy", np.zeros((4, 4, 4), np.float32))
    (tmp_path / "cut.npy").write_bytes((tmp_path / "good.npy").read_bytes()[:-9])
    np.save(tmp_path / "obj.npy", np.array([[[1, None]]], dtype=object), allow_pickle=True)
    np.save(tmp_path / "cplx.npy", np.zeros((2, 2, 2), np.complex64))
    np.save(tmp_path / "flat.npy", np.zeros((3, 3)))
    np.save(tmp_path / "five.npy", np.zeros((1, 2, 2, 2, 1)))
    np.save(tmp_path / "hole.npy", np.zeros((3, 0, 2), bool))
    np.save(tmp_path / "nan.npy", np.full((2, 2, 2), np.inf))
    cases = {
        "missing.npy": "volume file not found: .*missing.npy",
        "empty.npy": "empty.npy: the file is empty",
        "text.npy": r"text.npy: not an .npy array file",
        "arch.npz": r"arch.npz: a .npz archive, not an .npy array",
        "cut.npy": r"cut.npy: a corrupt or truncated .npy file",
        "obj.npy": "obj.npy: an array of Python objects",
        "cplx.npy": "cplx.npy: unsupported array type complex64",
        "flat.npy": r"flat.npy: array shape \(3, 3\) has 2 axes; expected \(D, H, W\) or \(D, H, W, C\)",
        "five.npy": r"five.npy: array shape \(1, 2, 2, 2, 1\) has 5 axes",
        "hole.npy": r"hole.npy: array shape \(3, 0, 2\) has an empty axis",
        "nan.npy": "nan.npy: the volume holds NaN or inf",
    }
    for name, match in cases.items():
        with pytest.raises(DataError, match=match) as e:
            read_volume(tmp_path / name)
        one_line(e)
    with pytest.raises(DataError, match="is a folder"):
        read_volume(tmp_path)


def test_sphere_volume_is_a_deterministic_shell_with_an_off_centre_cavity() -> None:
    v = sphere_volume(32)
    assert v.shape == (32, 32, 32, 1) and v.dtype == torch.uint8 and set(v.unique().tolist()) == {0, 1}
    assert torch.equal(v, sphere_volume(32))
    d, h, w = 16, 16, 6  # axes (D, H, W) = (z, y, x): centre row, x = 0.2, in the thick side of the shell
    assert v[d, h, w, 0] == 1 and v[16, 16, 16, 0] == 0 and v[0, 0, 0, 0] == 0  # shell, cavity, outside
    assert not torch.equal(v, v.flip(2)) and torch.equal(v, v.flip(1))  # lopsided along x only
    assert sphere_volume(8).shape == (8, 8, 8, 1)
    with pytest.raises(ConfigError) as e:
        sphere_volume(0)
    one_line(e)


def test_real_volume_when_present() -> None:
    path = SHARED / "volume" / "dragon.npy"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    v = read_volume(path)
    assert v.shape == (146, 104, 66, 1) and v.dtype == torch.uint8
    assert torch.equal(v[..., 0], torch.from_numpy(np.load(path)).byte())
