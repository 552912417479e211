"""The config file (`$S3LOGQ_CONFIG`, default ~/.config/s3logq/config.toml): `athena setup` records there what
it set up, in an `[athena]` table, so `--engine athena` needs no flags afterwards. Flags and the environment
still win over it (`AthenaOptions.from_env`)."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any

DEFAULT_PATH = Path("~/.config/s3logq/config.toml")


class ConfigError(Exception):
    """A config file that cannot be read or written: one line naming it (exit 1)."""


def config_path() -> Path:
    """Where the config file is: $S3LOGQ_CONFIG, else ~/.config/s3logq/config.toml."""
    return Path(os.environ.get("S3LOGQ_CONFIG") or DEFAULT_PATH).expanduser()


def load(path: Path | None = None) -> dict[str, Any]:
    """The whole file as a dict; {} when there is none."""
    path = path or config_path()
    try:
        with path.open("rb") as stream:
            return tomllib.load(stream)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config file {path} does not parse: {error}") from None
    except OSError as error:
        raise ConfigError(f"config file {path}: {error.strerror or error}") from None


def athena_settings(path: Path | None = None) -> dict[str, Any]:
    """The [athena] table ({} when none); a value of the wrong kind is a ConfigError naming it."""
    path = path or config_path()
    table = load(path).get("athena", {})
    if not isinstance(table, dict):
        raise ConfigError(f"config file {path}: athena is not a table")
    for name in ("workgroup", "database", "results", "region", "profile", "endpoint_url"):
        if name in table and not isinstance(table[name], str):
            raise ConfigError(f"config file {path}: athena.{name} is not a string")
    return table


def record_athena(settings: dict[str, Any], path: Path | None = None) -> Path:
    """Replace the [athena] table with `settings` (None values left out), keeping the file's other tables
    (their comments are not kept); written whole to a temporary file, then renamed. Returns the path."""
    path = path or config_path()
    document = load(path)
    document["athena"] = _without_none(settings)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_text("# written by s3logq athena setup; flags and S3LOGQ_ATHENA_* override it\n"
                             + dumps(document), encoding="utf-8")
        os.replace(temporary, path)
    except OSError as error:
        raise ConfigError(f"cannot write the config file {path}: {error.strerror or error}") from None
    return path


def _without_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    return value


# --- a small TOML writer (tomllib only reads): strings, numbers, booleans, lists of those, nested tables ----

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def dumps(document: dict[str, Any]) -> str:
    """`document` as TOML text."""
    return "".join(_table(document, ()))


def _table(table: dict[str, Any], name: tuple[str, ...]) -> list[str]:
    plain = {k: v for k, v in table.items() if not isinstance(v, dict)}
    nested = {k: v for k, v in table.items() if isinstance(v, dict)}
    lines = [f"\n[{'.'.join(_key(part) for part in name)}]\n"] if name and (plain or not nested) else []
    lines += [f"{_key(k)} = {_value(v)}\n" for k, v in plain.items()]
    for key, value in nested.items():
        lines += _table(value, (*name, key))
    return lines


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else _string(key)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise ConfigError(f"cannot write a {type(value).__name__} to the config file")


def _string(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    escaped = re.sub(r"[\x00-\x1f\x7f]", lambda m: f"\\u{ord(m.group()):04x}", escaped)
    return f'"{escaped}"'
