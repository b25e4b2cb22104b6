"""A fitted field <-> the bytes of an .nfc file (container.py), with nothing but the file needed to decode.

The header (JSON) holds the run's resolved config for the groups a field is built from (field, encoding,
network, cond, latent; checked on read against the same allowlist checkpoints are: nfields/run/trusted.py),
the signal's shape (*grid, C), its domain and rate, `--bits`, and one entry per state-dict tensor:

    {"name": "network.hidden.0.weight", "shape": [20, 2], "q": {"q": "uniform", "lo": -0.9, "hi": 1.1},
     "streams": [{"coder": "ans-laplace", "n": 31, "p": {"min": 0, "max": 255, "mean": 130.2, "scale": 30.1}}]}

Parameters are quantised (quantise.py) and each stream entropy-coded by the smallest coder (entropy.py);
a buffer the config rebuilds bit for bit (Fourier features' seeded B) is marked {"from": "config"} and not
stored; any other buffer is stored exactly, its bytes losslessly coded ({"q": "exact", "dtype": ...}).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nfields.analysis.codec import entropy
from nfields.analysis.codec.container import CodecFileError, read_bytes, write_bytes
from nfields.analysis.codec.quantise import check_bits, dequantise, quantise, stream_bits
from nfields.core.errors import UserError
from nfields.fields.base import Field
from nfields.run.build import as_config, build_field
from nfields.run.exits import building
from nfields.run.trusted import FIELD_KEYS, check_stored_config

EXACT_DTYPES = {"float32": torch.float32, "float16": torch.float16, "int64": torch.int64, "int32": torch.int32}
FAMILIES = ("raw", "zlib", "lzma", "ans")


@dataclass
class Encoded:
    """A file's bytes and what they are made of: `header_bytes` (prefix, header, CRC), `family_bytes` = the
    payload if every stream used that coder family, `chosen` = how many streams each coder won."""

    data: bytes
    header_bytes: int
    family_bytes: dict[str, int] = dataclass_field(default_factory=dict)
    chosen: dict[str, int] = dataclass_field(default_factory=dict)


def field_config(config: dict[str, Any]) -> dict[str, Any]:
    """The part of a run's resolved config that builds its field."""
    return {k: config[k] for k in FIELD_KEYS if k in config}


def rebuild(config: dict[str, Any], shape: Sequence[int], device: str | torch.device = "cpu") -> Field:
    """A freshly initialised field of the config's class for a signal of `shape` (*grid, C)."""
    with building("compressed field: "), torch.device(device):
        return build_field(as_config(config), out_dim=int(shape[-1]), in_dim=len(shape) - 1)


def encode_streams(streams: list[np.ndarray], bits: list[int], enc: Encoded) -> tuple[list[dict], bytes]:
    """Each stream under its cheapest coder -> (header entries, payload bytes); tallies every family."""
    entries, payload = [], b""
    for sym, b in zip(streams, bits, strict=True):
        options = entropy.encode_all(sym, b)
        for fam in FAMILIES:
            enc.family_bytes[fam] = enc.family_bytes.get(fam, 0) + min(
                len(d) for c, (_, d) in options.items() if entropy.FAMILIES[c] == fam
            )
        coder = min(options, key=lambda c: entropy.cost(*options[c]))
        params, data = options[coder]
        enc.chosen[coder] = enc.chosen.get(coder, 0) + 1
        entries.append({"coder": coder, "n": len(data), **({"p": params} if params else {})})
        payload += data
    return entries, payload


def encode_field(
    field: Field, config: dict[str, Any], shape: Sequence[int], bits: int, domain: str = "image", rate: Any = None
) -> Encoded:
    """The .nfc bytes of `field` (trained on a signal of `shape`) at `bits` (16: fp16)."""
    check_bits(bits)
    config = field_config(config)
    fresh = rebuild(config, shape).state_dict()
    names = {n for n, _ in field.named_parameters()}
    enc, tensors, payload = Encoded(b"", 0), [], b""
    for name, t in field.state_dict().items():
        entry: dict[str, Any] = {"name": name, "shape": list(t.shape)}
        if name in names and (t.is_floating_point() or t.is_complex()):
            q = quantise(t, bits, name)
            entry["q"] = q.meta
            entry["streams"], data = encode_streams(q.streams, q.stream_bits, enc)
        elif name in fresh and fresh[name].dtype == t.dtype and torch.equal(fresh[name], t.cpu()):
            entry["from"] = "config"
            data = b""
        else:  # a buffer training or loading changed: stored exactly
            dtype = str(t.dtype).removeprefix("torch.")
            if dtype not in EXACT_DTYPES:
                raise CodecFileError(f"tensor {name}: a {dtype} buffer the codec cannot store")
            raw = np.frombuffer(t.detach().cpu().contiguous().numpy().tobytes(), dtype=np.uint8).astype(np.int64)
            entry["q"] = {"q": "exact", "dtype": dtype}
            entry["streams"], data = encode_streams([raw], [8], enc)
        tensors.append(entry)
        payload += data
    header = {"config": config, "shape": list(shape), "domain": domain, "rate": rate, "bits": bits, "tensors": tensors}
    enc.data = write_bytes(header, payload)
    enc.header_bytes = len(enc.data) - len(payload)
    return enc


def decode_tensor(entry: dict[str, Any], like: torch.Tensor, bits: int, payload: bytes, where: str) -> torch.Tensor:
    """One tensor from its streams (`payload` is exactly its bytes)."""
    q, name = entry.get("q"), entry["name"]
    kind = q.get("q") if isinstance(q, dict) else None
    if kind == "exact":
        dtype = EXACT_DTYPES.get(q.get("dtype"))
        if dtype is None or dtype != like.dtype:
            raise CodecFileError(f"{where}: tensor {name} is stored as {q.get('dtype')}, the field has {like.dtype}")
        widths, counts = [8], [like.numel() * like.element_size()]
    elif kind in ("uniform", "fp16"):
        ok = kind == "fp16" or all(isinstance(q.get(k), float | int) and np.isfinite(q[k]) for k in ("lo", "hi"))
        if not ok or not (like.is_floating_point() or like.is_complex()):
            raise CodecFileError(f"{where}: tensor {name}'s quantiser {q} does not fit a {like.dtype} tensor")
        widths = stream_bits(q, bits)
        counts = [like.numel() * (2 if like.is_complex() else 1)] * len(widths)
    else:
        raise CodecFileError(f"{where}: tensor {name} has no known quantiser ({q})")
    specs = entry.get("streams", [])
    if len(specs) != len(widths):
        raise CodecFileError(f"{where}: tensor {name} lists {len(specs)} streams, its quantiser has {len(widths)}")
    streams, at = [], 0
    for s, b, n in zip(specs, widths, counts, strict=True):
        try:
            streams.append(entropy.decode(str(s.get("coder")), s.get("p", {}), payload[at : at + s["n"]], n, b))
        except entropy.StreamError as e:
            raise CodecFileError(f"{where}: tensor {name}: {e}") from None
        at += s["n"]
    if kind == "exact":
        raw = streams[0].astype(np.uint8).tobytes()
        return torch.frombuffer(bytearray(raw), dtype=like.dtype).reshape(like.shape).clone()
    return dequantise(q, bits, streams, like)


def decode_field(
    data: bytes, where: str, searchpath: Sequence[str | Path] = (), device: str | torch.device = "cpu"
) -> tuple[Field, dict[str, Any]]:
    """The field an .nfc file's bytes hold, and its header; refused in one line (CodecFileError or
    CheckpointError) before anything big is built when the file is not what the codec writes."""
    header, payload = read_bytes(data, where)
    config = check_stored_config(header["config"], where, FIELD_KEYS, searchpath)
    shape = header["shape"]
    try:
        probe = rebuild(config, shape, "meta").state_dict()  # shapes only: nothing allocated
    except UserError:
        raise
    except Exception as e:  # allowlisted classes given a config train.py never wrote (a key removed, a type changed)
        first = f"{type(e).__name__}: {(str(e).strip().splitlines() or [''])[0]}"
        raise CodecFileError(f"{where}: the header's config does not build a field ({first})") from None
    listed = {t["name"]: tuple(t["shape"]) for t in header["tensors"]}
    expected = {k: tuple(v.shape) for k, v in probe.items()}
    if listed != expected:
        diff = sorted(set(listed.items()) ^ set(expected.items()))[0]
        raise CodecFileError(
            f"{where}: the stored tensors do not match the field its config builds (first difference: {diff[0]} "
            f"{list(diff[1])} listed {listed.get(diff[0])}, built {expected.get(diff[0])})"
        )
    field = rebuild(config, shape)
    state, at = field.state_dict(), 0
    for entry in header["tensors"]:
        n = sum(s["n"] for s in entry.get("streams", []))
        name = entry["name"]
        if entry.get("from") != "config":
            state[name] = decode_tensor(entry, state[name], header["bits"], payload[at : at + n], where)
        at += n
    field.load_state_dict(state)
    return field.to(device).eval(), header
