import dataclasses
import tomllib
from pathlib import Path

import pytest

from snapconf.config import Config, ConfigError, load

SAMPLE = Path(__file__).parents[2] / "config.sample.toml"


def test_the_sample_config_lists_every_setting_with_its_default():
    sample = tomllib.loads(SAMPLE.read_text())
    defaults = Config()
    for section in dataclasses.fields(defaults):
        values = dataclasses.asdict(getattr(defaults, section.name))
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
    ],
)
def test_bad_settings_are_refused_with_their_name(tmp_path, text, environ, message):
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load(str(path), environ=environ)
