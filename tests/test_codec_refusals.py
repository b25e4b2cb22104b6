"""decompress.py refuses a file that is not what compress.py wrote, in one line, and writes nothing."""

from __future__ import annotations

import json
import subprocess
import sys
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest

from nfields.analysis.codec.compact import config_crc, expand_config
from nfields.analysis.codec.container import DEFLATE, PREFIX, write_bytes
from nfields.core.errors import UserError
from nfields.run.trusted import FIELD_KEYS
from tests.codec_run import fit_run, load_script
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def nfc(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    folder = tmp_path_factory.mktemp("refusals")
    load_script("compress").main([str(fit_run(folder, steps=5)), "--out", str(folder / "f.nfc")])
    return (folder / "f.nfc").read_bytes()


def crafted(data: bytes, edit: Callable[[dict], None], crc: bool = True) -> bytes:
    """The file with its header edited and its CRCs made right again (the file's, and the config's when it still
    expands): what a deliberate forger writes."""
    n = PREFIX.unpack_from(data)[2]
    header = json.loads(zlib.decompress(data[PREFIX.size : PREFIX.size + n], DEFLATE))
    edit(header)
    if crc:
        header["k"] = config_crc(expand_config(header["c"], FIELD_KEYS, "test"))
    return write_bytes(header, data[PREFIX.size + n : -4])


def network(h: dict) -> dict:
    """The header's network node's changed keys, as a dict the test may edit ("siren" -> ["siren", {}])."""
    if isinstance(h["c"]["network"], str):
        h["c"]["network"] = [h["c"]["network"], {}]
    return h["c"]["network"][1]


def refused(tmp_path: Path, data: bytes, match: str) -> None:
    src, out = tmp_path / "x.nfc", tmp_path / "out" / "x.png"
    src.write_bytes(data)
    with pytest.raises(UserError, match=match) as e:
        load_script("decompress").main([str(src), "--out", str(out)])
    assert "\n" not in str(e.value)
    assert not out.parent.exists() or not any(out.parent.iterdir())  # nothing written, no temporary left


def test_the_untouched_file_decodes(nfc: bytes, tmp_path: Path) -> None:
    (tmp_path / "x.nfc").write_bytes(nfc)
    assert load_script("decompress").main([str(tmp_path / "x.nfc"), "--out", str(tmp_path / "x.png")]).is_file()


def test_a_truncated_file(nfc: bytes, tmp_path: Path) -> None:
    refused(tmp_path, nfc[: len(nfc) - 20], "checksum mismatch")
    refused(tmp_path, nfc[:6], "too short")


def test_a_corrupted_file(nfc: bytes, tmp_path: Path) -> None:
    flipped = bytearray(nfc)
    flipped[len(nfc) - 30] ^= 0x10  # one bit of the payload
    refused(tmp_path, bytes(flipped), "checksum mismatch")


def test_another_format(nfc: bytes, tmp_path: Path) -> None:
    refused(tmp_path, b"\x89PNG" + nfc[4:], "not an .nfc file")


def test_an_old_format_version(nfc: bytes, tmp_path: Path) -> None:
    old = nfc[:4] + b"\x01" + nfc[5:]
    refused(tmp_path, old, "format version 1, this nfields reads version 2")


def test_a_class_outside_the_allowlist(nfc: bytes, tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"

    def edit(h: dict) -> None:
        h["c"]["network"] = [None, {"_target_": "builtins.open", "file": str(victim), "mode": "w"}]

    refused(tmp_path, crafted(nfc, edit), "builtins.open is not a target")
    assert not victim.exists()  # never called

    def changed(h: dict) -> None:  # the same target as a change to an allowed option
        network(h)["_target_"] = "builtins.open"

    refused(tmp_path, crafted(nfc, changed), "builtins.open is not a target")


def test_an_option_this_nfields_does_not_have(nfc: bytes, tmp_path: Path) -> None:
    def edit(h: dict) -> None:
        h["c"]["network"] = "../../tests/evil"

    refused(tmp_path, crafted(nfc, edit, crc=False), r"network=../../tests/evil is not an option of this nfields")


def test_other_option_defaults(nfc: bytes, tmp_path: Path) -> None:
    """A file whose config, rebuilt from this nfields' options, is not the one it was written with."""

    def edit(h: dict) -> None:
        h["k"] ^= 1

    refused(tmp_path, crafted(nfc, edit, crc=False), "other option defaults")


def test_tensor_sizes_that_do_not_match_the_config(nfc: bytes, tmp_path: Path) -> None:
    def edit(h: dict) -> None:
        network(h)["n_neurons"] = 33  # the stored tensors are 32 wide

    refused(tmp_path, crafted(nfc, edit), "do not match the field its config builds")


def test_stream_lengths_that_do_not_match_the_payload(nfc: bytes, tmp_path: Path) -> None:
    def edit(h: dict) -> None:
        h["t"][0][1][0][1] += 1  # the first tensor's first stream's byte count

    refused(tmp_path, crafted(nfc, edit), "payload bytes")


def test_absurd_dimensions(nfc: bytes, tmp_path: Path) -> None:
    def edit(h: dict) -> None:
        h["s"] = [1 << 20, 1 << 20, 3]

    refused(tmp_path, crafted(nfc, edit), "absurd")


def test_absurd_parameter_counts(nfc: bytes, tmp_path: Path) -> None:
    def edit(h: dict) -> None:
        h["n"] = 1 << 40
        network(h)["n_neurons"] = 1 << 20

    refused(tmp_path, crafted(nfc, edit), "absurd for a field")


def test_stream_data_that_does_not_decode(nfc: bytes, tmp_path: Path) -> None:
    def edit(h: dict) -> None:
        stream = h["t"][0][1][0]
        stream[0] = 0 if stream[0] == 1 else 1  # raw <-> zlib: bytes another coder wrote

    refused(tmp_path, crafted(nfc, edit), r"tensor network\.hidden\.0\.weight: ")


def test_the_script_exits_2_with_one_line(nfc: bytes, tmp_path: Path) -> None:
    (tmp_path / "x.nfc").write_bytes(nfc[:-1])
    out = tmp_path / "x.png"
    cmd = [sys.executable, str(ROOT / "scripts" / "decompress.py"), str(tmp_path / "x.nfc"), "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and not out.exists()
    assert proc.stderr.strip().count("\n") == 0 and "checksum mismatch" in proc.stderr


def test_a_config_that_builds_no_field(nfc: bytes, tmp_path: Path) -> None:
    def edit(h: dict) -> None:
        del h["c"]["network"]  # every target still allowed, but no network to build

    refused(tmp_path, crafted(nfc, edit), "the header's config does not build a field")


def test_a_rate_that_is_not_a_number(nfc: bytes, tmp_path: Path) -> None:
    def edit(h: dict) -> None:
        h["d"], h["r"] = "audio", "fast"

    refused(tmp_path, crafted(nfc, edit), "rate=fast")
