"""The .nfc header: the field config as option names and changed keys, rebuilt exactly, and short."""

from __future__ import annotations

import json

import pytest
from omegaconf import OmegaConf

from nfields.analysis.codec import compact
from nfields.analysis.codec.codec import built_config, decode_field, encode_field, field_config, rebuild
from nfields.analysis.codec.container import CodecFileError
from nfields.run.compose import CONFIGS
from nfields.run.options import option_names
from nfields.run.trusted import FIELD_KEYS

SHAPE = (64, 96, 3)  # the reduced Kodak curve's 96 x 64 frames


@pytest.mark.parametrize("group", FIELD_KEYS)
def test_every_option_and_its_edits_come_back_exactly(group: str) -> None:
    """Each option's node, as written and with a value changed in type (int -> float), a key added and one
    removed, expands from its compact form to the same JSON, types included."""
    for name in option_names(CONFIGS, group):
        node = compact.option_node(group, name)
        edited = {**node, "added": [1, {"x": None}]}
        for k, v in node.items():
            if isinstance(v, int) and not isinstance(v, bool):
                edited[k] = float(v)  # 30 -> 30.0: equal in Python, another value in a config
        if node:
            edited.pop(next(iter(node)))
        for want in (node, edited):
            short = compact.compact_config({group: want})
            assert compact.canonical(compact.expand_config(short, FIELD_KEYS, "t")[group]) == compact.canonical(want)
        assert compact.compact_config({group: node})[group] == name or not node  # unedited: the bare name


@pytest.mark.parametrize(
    "overrides",
    [["network=siren", "network.n_neurons=20", "network.n_hidden_layers=5"], ["encoding=hashgrid"],
     ["field=gaussians", "field.n_gaussians=50"], ["network=wire"], ["cond=film"]],
    ids=["siren", "hashgrid", "gaussians", "wire", "film"],
)  # fmt: skip
def test_the_file_rebuilds_the_config_its_field_builds(make_cfg, overrides: list[str]) -> None:
    """decode_field's config is the run's, less the groups the field never builds (latent without cond, the
    network of 2-D Gaussians); a conditioned field keeps its latent."""
    config = OmegaConf.to_container(make_cfg("debug=fast", *overrides), resolve=True)
    field = rebuild(field_config(config), (6, 5, 3))
    _, header = decode_field(encode_field(field, config, (6, 5, 3), 8).data, "memory")
    assert header["config"] == built_config(field_config(config))
    assert {k: config[k] for k in header["config"]} == header["config"]
    assert ("latent" in header["config"]) == (overrides == ["cond=film"])
    assert ("network" in header["config"]) == ("field=gaussians" not in overrides)


def test_the_header_is_short(make_cfg) -> None:
    """COIN's 5 x 20 SIREN on a 96 x 64 image: the header (prefix, deflated JSON, CRC) is under 300 bytes (about
    690 with the whole config and every tensor's name and shape), its config under a quarter of the whole's text."""
    config = OmegaConf.to_container(make_cfg("network=siren", "network.n_neurons=20", "network.n_hidden_layers=5"))
    field = rebuild(field_config(config), SHAPE)
    enc = encode_field(field, config, SHAPE, 8)
    whole = json.dumps(field_config(config), separators=(",", ":"))
    short = json.dumps(compact.compact_config(built_config(field_config(config))), separators=(",", ":"))
    assert enc.header_bytes < 300 and len(short) < len(whole) / 4


def test_a_file_written_against_other_option_defaults_is_refused(make_cfg, monkeypatch: pytest.MonkeyPatch) -> None:
    """If an option's YAML changes after a file is written, the file is refused, not decoded into another field."""
    config = OmegaConf.to_container(make_cfg("debug=fast", "network=siren"), resolve=True)
    data = encode_field(rebuild(field_config(config), (6, 5, 3)), config, (6, 5, 3), 8).data
    written = compact.option_node

    def changed(group: str, name: str) -> dict:
        node = written(group, name)
        return {**node, "w0": 31.0} if group == "network" else node

    monkeypatch.setattr(compact, "option_node", changed)
    with pytest.raises(CodecFileError, match="other option defaults"):
        decode_field(data, "memory")
