"""A fitted field <-> the bytes of an .nfc file (container.py), with nothing but the file needed to decode.

The header (compact JSON) holds the field's config as option names and what differs from them (compact.py;
the rebuilt config is checked on read against the same allowlist checkpoints are: nfields/run/trusted.py),
the signal's shape (*grid, C), its domain and rate, `--bits`, the number of stored values, and one entry per
state-dict tensor in the order the config's field lists them (names and shapes come from the field it builds):

    [["u", -0.9, 1.1], [[3, 31, 0, 255, 130.2, 30.1]]]   # uniform on [lo, hi]; one stream: coder 3, 31 bytes, params

Parameters are quantised (quantise.py) and each stream entropy-coded by the smallest coder (entropy.py);
a buffer the config rebuilds bit for bit (Fourier features' seeded B) is 0 and not stored; any other buffer
is stored exactly, its bytes losslessly coded (["e", dtype]). In memory (and in decode_field's return) the
header is the long form: {"config", "shape", "domain", "rate", "bits", "tensors": [{"name", "shape", "q",
"streams"}]}.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nfields.analysis.codec import entropy
from nfields.analysis.codec.compact import check_crc, compact_config, config_crc, expand_config
from nfields.analysis.codec.container import CodecFileError, read_bytes, write_bytes
from nfields.analysis.codec.quantise import check_bits, dequantise, quantise, stream_bits, stream_counts
from nfields.analysis.codec.schemes import tensor_specs
from nfields.core.errors import UserError
from nfields.fields.base import Field
from nfields.run.build import PART_NEEDS, as_config, build_field, field_class
from nfields.run.exits import building
from nfields.run.trusted import FIELD_KEYS, check_stored_config

EXACT_DTYPES = {"float32": torch.float32, "float16": torch.float16, "int64": torch.int64, "int32": torch.int32}
FAMILIES = ("raw", "zlib", "lzma", "ans")
CODERS = tuple(entropy.FAMILIES)  # a stream's coder is its index here in the file
PARAMS = {"ans-laplace": ("min", "max", "mean", "scale"), "ans-gauss": ("min", "max", "mean", "scale")}
PARAMS["ans-hist"] = ("min", "max")
QUANTISERS = {"uniform": "u", "fp16": "f", "exact": "e", "rvq": "v"}
ARGS = {"u": (2, 3), "f": (0,), "e": (1,), "v": (2,)}  # how many values follow each quantiser's letter


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


def built_config(config: dict[str, Any]) -> dict[str, Any]:
    """The groups of a field config its field builds (what a file stores): the field node and the parts its class
    lists, less those set to none and those it ignores (latent without cond; encoding and network of 2-D
    Gaussians). The config is the encoder's own run's, so its class may be imported."""
    parts = field_class(as_config(config)).parts
    used = [k for k in parts if config.get(k) and (k not in PART_NEEDS or config.get(PART_NEEDS[k]))]
    return {k: config[k] for k in ("field", *used) if k in config}


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


def short_tensor(entry: dict[str, Any]) -> Any:
    """A tensor's long header entry -> its file form: 0 (rebuilt from the config) or [quantiser, streams]."""
    if entry.get("from") == "config":
        return 0
    q = entry["q"]
    quantiser = [QUANTISERS[q["q"]], *((q["lo"], q["hi"]) if q["q"] == "uniform" else ())]
    quantiser += [q["bits"]] if "bits" in q else []  # a tensor's own width (GaussianImage's 6-bit Cholesky)
    quantiser += [q["dtype"]] if q["q"] == "exact" else []
    quantiser += [q["stages"], q["size"]] if q["q"] == "rvq" else []
    streams = [
        [CODERS.index(s["coder"]), s["n"], *(s["p"][k] for k in PARAMS.get(s["coder"], ()) if k in s["p"])]
        for s in entry["streams"]
    ]
    return [quantiser, streams]


def long_tensor(short: Any, name: str, shape: list[int], where: str) -> dict[str, Any]:
    """A tensor's file form -> its long entry (decode_tensor checks the values; this, the structure)."""
    entry: dict[str, Any] = {"name": name, "shape": shape}
    if short == 0:
        return entry | {"from": "config"}
    (kind, *args), streams = short[0] or [None], short[1]
    kinds = {v: k for k, v in QUANTISERS.items()}
    if kind not in kinds or len(args) not in ARGS[kind]:
        raise CodecFileError(f"{where}: tensor {name} has no known quantiser ({short[0]})")
    q: dict[str, Any] = {"q": kinds[kind]}
    if kind == "u":
        q |= {"lo": float(args[0]), "hi": float(args[1])} if all(map(is_real, args[:2])) else {}
        q |= {"bits": args[2]} if len(args) == 3 else {}
    elif kind == "v":
        q |= {"stages": args[0], "size": args[1]}
    elif kind == "e":
        q["dtype"] = args[0]
    entry |= {"q": q, "streams": []}
    for s in streams:
        if not (isinstance(s[0], int) and 0 <= s[0] < len(CODERS)):
            raise CodecFileError(f"{where}: tensor {name}: unknown coder {s[0]} (known: 0..{len(CODERS) - 1})")
        coder, keys = CODERS[s[0]], PARAMS.get(CODERS[s[0]], ())
        constant = len(s) == 4 and s[2] == s[3]  # rANS of one symbol: min = max, no model parameters
        if len(s) != 2 + len(keys) and not (keys and constant):
            raise CodecFileError(
                f"{where}: tensor {name}: {coder} takes {len(keys)} parameters, the file lists {len(s) - 2}"
            )
        entry["streams"].append(
            {"coder": coder, "n": s[1], **({"p": dict(zip(keys, s[2:], strict=False))} if keys else {})}
        )
    return entry


def is_real(v: Any) -> bool:
    return isinstance(v, float | int) and not isinstance(v, bool) and bool(np.isfinite(v))


def short_header(header: dict[str, Any]) -> dict[str, Any]:
    """The long header -> what the file stores (container.check_header lists the keys)."""
    stored = built_config(header["config"])
    out = {"c": compact_config(stored), "k": config_crc(stored), "s": header["shape"]}
    out |= {"d": header["domain"]} if header["domain"] != "image" else {}
    out |= {"r": header["rate"]} if header["rate"] is not None else {}
    out |= {"b": header["bits"], "n": sum(math.prod(t["shape"]) for t in header["tensors"])}
    return out | {"t": [short_tensor(t) for t in header["tensors"]]}


def encode_field(
    field: Field,
    config: dict[str, Any],
    shape: Sequence[int],
    bits: int,
    domain: str = "image",
    rate: Any = None,
    scheme: str = "auto",
) -> Encoded:
    """The .nfc bytes of `field` (trained on a signal of `shape`) at `bits` (16: fp16); `scheme` (schemes.py):
    auto gives a representation its paper's quantisers where it has them, uniform every tensor --bits."""
    check_bits(bits)
    specs = tensor_specs(field, scheme)
    config = field_config(config)
    fresh = rebuild(config, shape).state_dict()
    names = {n for n, _ in field.named_parameters()}
    enc, tensors, payload = Encoded(b"", 0), [], b""
    for name, t in field.state_dict().items():
        entry: dict[str, Any] = {"name": name, "shape": list(t.shape)}
        if name in names and (t.is_floating_point() or t.is_complex()):
            q = quantise(t, bits, name, specs.get(name))
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
    enc.data = write_bytes(short_header(header), payload)
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
    elif kind in ("uniform", "fp16", "rvq"):
        ok = kind != "uniform" or all(isinstance(q.get(k), float | int) and np.isfinite(q[k]) for k in ("lo", "hi"))
        ok = ok and (kind != "uniform" or q.get("bits", bits) in range(2, 16))
        if kind == "rvq":  # rows of a real (G, C) tensor; 1..4 stages of 2..256 codewords
            size = q["size"] if isinstance(q["size"], int) and not isinstance(q["size"], bool) else 0
            ok = isinstance(q["stages"], int) and 1 <= q["stages"] <= 4 and size in {1 << k for k in range(1, 9)}
            ok = ok and like.dim() == 2 and like.is_floating_point()
        if not ok or not (like.is_floating_point() or like.is_complex()):
            raise CodecFileError(f"{where}: tensor {name}'s quantiser {q} does not fit a {like.dtype} tensor")
        widths, counts = stream_bits(q, bits), stream_counts(q, like)
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
    short, payload = read_bytes(data, where)
    full = expand_config(short["c"], FIELD_KEYS, where)
    config = check_stored_config(full, where, FIELD_KEYS, searchpath)  # the allowlist, before anything is imported
    check_crc(full, short["k"], where)
    shape = short["s"]
    try:
        probe = rebuild(config, shape, "meta").state_dict()  # shapes only: nothing allocated
    except UserError:
        raise
    except Exception as e:  # allowlisted classes given a config train.py never wrote (a key removed, a type changed)
        first = f"{type(e).__name__}: {(str(e).strip().splitlines() or [''])[0]}"
        raise CodecFileError(f"{where}: the header's config does not build a field ({first})") from None
    built = (len(probe), sum(v.numel() for v in probe.values()))
    if built != (len(short["t"]), short["n"]):
        raise CodecFileError(
            f"{where}: the stored tensors do not match the field its config builds ({len(short['t'])} tensors of "
            f"{short['n']} numbers stored, {built[0]} of {built[1]} built)"
        )
    tensors = [long_tensor(t, k, list(v.shape), where) for t, (k, v) in zip(short["t"], probe.items(), strict=True)]
    header = {"config": full, "shape": shape, "domain": short.get("d", "image"), "rate": short.get("r")}
    header |= {"bits": short["b"], "tensors": tensors}
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
