"""The root configuration: each component's config, composed, with defaults.

Precedence, lowest first: the defaults beside each component, the TOML file given with
``--config``, ``SNAPCONF_<SECTION>_<KEY>`` environment variables, command-line flags.
Unknown sections and keys are refused with the name of the offender.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from dataclasses import dataclass, field
from typing import Any

from snapconf.auth import AuthConfig
from snapconf.bookings.config import ApiConfig, OrganisersConfig, SnapConfig
from snapconf.bookings.store import StoreConfig
from snapconf.conference import SfuConfig
from snapconf.conference.chat import ChatConfig
from snapconf.dialin.config import SipConfig
from snapconf.media.config import MediaConfig
from snapconf.media.mixer import MixerConfig
from snapconf.signaling.session import SignalingConfig


class ConfigError(ValueError):
    """A setting is unknown or has the wrong type; the message names it."""


@dataclass(slots=True)
class HttpConfig:
    """The HTTP server: pages, signaling WebSocket, metrics (section ``[http]``)."""

    #: address to listen on; 127.0.0.1 keeps the server private to this machine
    host: str = "127.0.0.1"
    port: int = 8080
    #: seconds a connection may stay idle between requests, or take to send a request's
    #: head (method, path and headers); then it is closed (slow-header clients)
    keepalive_timeout: float = 15.0


@dataclass(slots=True)
class LogConfig:
    """Logging (section ``[log]``)."""

    level: str = "INFO"
    #: "text" for people, "json" for log collectors
    format: str = "text"


@dataclass(slots=True)
class Config:
    http: HttpConfig = field(default_factory=HttpConfig)
    media: MediaConfig = field(default_factory=MediaConfig)
    sfu: SfuConfig = field(default_factory=SfuConfig)
    chat: ChatConfig = field(default_factory=ChatConfig)
    signaling: SignalingConfig = field(default_factory=SignalingConfig)
    auth: AuthConfig = field(default_factory=AuthConfig)
    log: LogConfig = field(default_factory=LogConfig)
    mixer: MixerConfig = field(default_factory=MixerConfig)
    sip: SipConfig = field(default_factory=SipConfig)
    # the bookings, and the API and pages over them
    store: StoreConfig = field(default_factory=StoreConfig)
    api: ApiConfig = field(default_factory=ApiConfig)
    organisers: OrganisersConfig = field(default_factory=OrganisersConfig)
    snap: SnapConfig = field(default_factory=SnapConfig)


def _convert(value: Any, annotation: Any, name: str) -> Any:
    origin = typing.get_origin(annotation)
    if origin in (list, tuple):
        item = typing.get_args(annotation)[0]
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{name} is not a list")
        items = [_convert(v, item, name) for v in value]
        return items if origin is list else tuple(items)
    if origin is dict or dataclasses.is_dataclass(annotation):
        if not isinstance(value, dict):
            raise ConfigError(f"{name} is not a table")
        return value  # checked by the section's own from_dict
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _convert(value, args[0], name)
    if annotation is bool:
        if isinstance(value, str):
            if value.lower() in ("1", "true", "yes", "on"):
                return True
            if value.lower() in ("0", "false", "no", "off"):
                return False
        if not isinstance(value, bool):
            raise ConfigError(f"{name} is not a boolean")
        return value
    if annotation is int:
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                raise ConfigError(f"{name} is not an integer") from None
        if not isinstance(value, int) or isinstance(value, bool):
            raise ConfigError(f"{name} is not an integer")
        return value
    if annotation is float:
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                raise ConfigError(f"{name} is not a number") from None
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise ConfigError(f"{name} is not a number")
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(f"{name} is not a string")
        return value
    raise ConfigError(f"{name} has an unsupported type")


def _sections(config: Config) -> dict[str, Any]:
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}


def apply(config: Config, values: dict[str, Any], origin: str) -> None:
    """Apply ``{section: {key: value}}``, refusing unknown names."""
    sections = _sections(config)
    for section_name, section_values in values.items():
        section = sections.get(section_name)
        if section is None:
            raise ConfigError(f"{origin}: unknown section [{section_name}]")
        if not isinstance(section_values, dict):
            raise ConfigError(f"{origin}: [{section_name}] is not a table")
        hints = typing.get_type_hints(type(section))
        known = {f.name for f in dataclasses.fields(section)}
        changes = {}
        for key, value in section_values.items():
            if key not in known:
                raise ConfigError(f"{origin}: unknown setting {section_name}.{key}")
            changes[key] = _convert(value, hints[key], f"{section_name}.{key}")
        try:  # both run a frozen section's own checks (__post_init__)
            from_dict = getattr(type(section), "from_dict", None)
            if from_dict is not None:  # sections with tables of their own
                merged = dataclasses.asdict(section)
                merged.update(changes)
                setattr(config, section_name, from_dict(merged))
            else:
                setattr(config, section_name, dataclasses.replace(section, **changes))
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{origin}: {exc}") from exc


def load(path: str | None = None, environ: dict[str, str] | None = None) -> Config:
    """Defaults, then the TOML file, then ``SNAPCONF_SECTION_KEY`` variables."""
    config = Config()
    if path:
        with open(path, "rb") as f:
            try:
                data = tomllib.load(f)
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(f"{path}: {exc}") from exc
        apply(config, data, path)
    env = os.environ if environ is None else environ
    sections = _sections(config)
    from_env: dict[str, dict[str, Any]] = {}
    for name, value in env.items():
        if not name.startswith("SNAPCONF_"):
            continue
        rest = name[len("SNAPCONF_") :].lower()
        section_name, _, key = rest.partition("_")
        if section_name not in sections or not key:
            raise ConfigError(f"environment: unknown variable {name}")
        from_env.setdefault(section_name, {})[key] = value
    apply(config, from_env, "environment")
    return config


def dump_defaults() -> str:
    """The default configuration as TOML (used to check config.sample.toml)."""
    lines = []
    for section_name, section in _sections(Config()).items():
        lines.append(f"[{section_name}]")
        for f in dataclasses.fields(section):
            value = getattr(section, f.name)
            lines.append(f"{f.name} = {_toml(value)}")
        lines.append("")
    return "\n".join(lines)


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
