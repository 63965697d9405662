import dataclasses
import tomllib
from pathlib import Path

import pytest

from snapconf.config import Config, ConfigError, load

SAMPLE = Path(__file__).parents[2] / "config.sample.toml"


def _lists(value):
    if isinstance(value, dict):
        return {k: _lists(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_lists(v) for v in value]
    return value


def test_the_sample_config_lists_every_setting_with_its_default():
    sample = tomllib.loads(SAMPLE.read_text())
    defaults = Config()
    for section in dataclasses.fields(defaults):
        values = _lists(dataclasses.asdict(getattr(defaults, section.name)))
        assert sample[section.name] == values, section.name
    assert set(sample) == {f.name for f in dataclasses.fields(defaults)}


def test_file_then_environment_override_defaults(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[media]\nport = 20000\nannounced = ["203.0.113.9"]\n[http]\nport = 9000\n')
    config = load(
        str(path), environ={"SNAPCONF_HTTP_PORT": "9100", "SNAPCONF_SFU_VIDEO_CODECS": "H264,VP8"}
    )
    assert config.media.port == 20000 and config.media.announced == ["203.0.113.9"]
    assert config.http.port == 9100 and config.sfu.video_codecs == ["H264", "VP8"]
    assert config.media.consent_timeout == 30.0


def test_sip_tables_and_environment_reach_the_gateway_config(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[sip]\ncodecs = ["PCMA"]\n[sip.timers]\nt1 = 0.25\n[sip.static_conferences]\nequipe = "123456789"\n')
    config = load(str(path), environ={"SNAPCONF_SIP_PORT": "5070", "SNAPCONF_SIP_ALLOWLIST": "192.0.2.0/24"})
    assert config.sip.port == 5070 and config.sip.codecs == ("PCMA",)
    assert config.sip.timers.t1 == 0.25 and config.sip.timers.t2 == 4.0
    assert config.sip.static_conferences == {"equipe": "123456789"}
    assert config.sip.allowlist == ("192.0.2.0/24",)


@pytest.mark.parametrize(
    ("text", "environ", "message"),
    [
        ("[media]\nprot = 1\n", {}, "unknown setting media.prot"),
        ("[medias]\nport = 1\n", {}, "unknown section [medias]"),
        ('[media]\nport = "x"\n', {}, "media.port is not an integer"),
        ("[media]\nlisten = 5\n", {}, "media.listen is not a list"),
        ("", {"SNAPCONF_MEDIA_PORT": "ten"}, "media.port is not an integer"),
        ("", {"SNAPCONF_NOPE_X": "1"}, "unknown variable SNAPCONF_NOPE_X"),
        ("[media\n", {}, "Expected ']'"),
        ("[sip]\nport = 70000\n", {}, "sip.port is not a valid port"),
        ("[sip]\nallowlist = [\"not-an-ip\"]\n", {}, "sip.allowlist entry 'not-an-ip' is not an address"),
        ("[sip.timers]\nt9 = 1\n", {}, "t9"),
        ("[mixer]\ntalkers = 0\n", {}, "mixer.talkers"),
    ],
)
def test_bad_settings_are_refused_with_their_name(tmp_path, text, environ, message):
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load(str(path), environ=environ)
