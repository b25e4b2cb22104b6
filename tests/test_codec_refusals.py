"""decompress.py refuses a file that is not what compress.py wrote, in one line, and writes nothing."""

from __future__ import annotations

import json
import subprocess
import sys
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest

from nfields.analysis.codec.container import PREFIX, write_bytes
from nfields.core.errors import UserError
from tests.codec_run import fit_run, load_script
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def nfc(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    folder = tmp_path_factory.mktemp("refusals")
    load_script("compress").main([str(fit_run(folder, steps=5)), "--out", str(folder / "f.nfc")])
    return (folder / "f.nfc").read_bytes()


def crafted(data: bytes, edit: Callable[[dict], None]) -> bytes:
    """The file with its header edited and its CRC made right again: what a deliberate forger writes."""
    n = PREFIX.unpack_from(data)[2]
    header = json.loads(zlib.decompress(data[PREFIX.size : PREFIX.size + n]))
    edit(header)
    return write_bytes(header, data[PREFIX.size + n : -4])


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


def test_a_class_outside_the_allowlist(nfc: bytes, tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"

    def edit(h: dict) -> None:
        h["config"]["network"] = {"_target_": "builtins.open", "file": str(victim), "mode": "w"}

    refused(tmp_path, crafted(nfc, edit), "builtins.open is not a target")
    assert not victim.exists()  # never called


def test_tensor_sizes_that_do_not_match_the_config(nfc: bytes, tmp_path: Path) -> None:
    def edit(h: dict) -> None:
        h["config"]["network"]["n_neurons"] = 33  # the stored tensors are 32 wide

    refused(tmp_path, crafted(nfc, edit), "do not match the field its config builds")


def test_stream_lengths_that_do_not_match_the_payload(nfc: bytes, tmp_path: Path) -> None:
    def edit(h: dict) -> None:
        h["tensors"][0]["streams"][0]["n"] += 1

    refused(tmp_path, crafted(nfc, edit), "payload bytes")


def test_absurd_dimensions(nfc: bytes, tmp_path: Path) -> None:
    def edit(h: dict) -> None:
        h["shape"] = [1 << 20, 1 << 20, 3]

    refused(tmp_path, crafted(nfc, edit), "absurd")


def test_absurd_parameter_counts(nfc: bytes, tmp_path: Path) -> None:
    def edit(h: dict) -> None:
        h["tensors"][0]["shape"] = [1 << 20, 1 << 20]
        h["config"]["network"]["n_neurons"] = 1 << 20

    refused(tmp_path, crafted(nfc, edit), "absurd for a field")


def test_stream_data_that_does_not_decode(nfc: bytes, tmp_path: Path) -> None:
    def edit(h: dict) -> None:
        stream = h["tensors"][0]["streams"][0]
        stream["coder"] = "raw" if stream["coder"] == "zlib" else "zlib"  # bytes another coder wrote

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
        del h["config"]["network"]  # every target still allowed, but no network to build

    refused(tmp_path, crafted(nfc, edit), "the header's config does not build a field")


def test_a_rate_that_is_not_a_number(nfc: bytes, tmp_path: Path) -> None:
    def edit(h: dict) -> None:
        h["domain"], h["rate"] = "audio", "fast"

    refused(tmp_path, crafted(nfc, edit), "rate=fast")
