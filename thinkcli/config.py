"""Settings: defaults < config file (TOML) < ``THINK_*`` environment < flags.

The file lives in the platformdirs user config dir (``THINK_CONFIG_DIR``
overrides it) and is written with tomli-w. Every key has a type in ``SCHEMA``;
a bad file is an error naming the file and the key, never a traceback.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from thinkcli.errors import ConfigError, UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

APP = "thinkcli"
PROMPT_STYLES = ("direct", "steps", "program")  # what a sample can be asked in (prompts/): flags, profiles, grids
CHOICES = {
    "effort": ("low", "medium", "high", "auto"),
    "prompt_style": (*PROMPT_STYLES, "plain"),  # plain: the question exactly as given (think serve's low)
}

# key -> (type, default, help)
SCHEMA: dict[str, tuple[type, Any, str]] = {
    "model": (str, None, "model reference used when -m is not given"),
    "effort": (str, "low", "default --effort"),
    "strategy": (str, None, "default --strategy (overrides the effort preset's)"),
    "samples": (int, None, "default --samples"),
    "max_tokens": (int, None, "completion tokens per sample (default: the preset's, 512)"),
    "temperature": (float, None, "sampling temperature"),
    "seed": (int, None, "random seed"),
    "system": (str, None, "system prompt"),
    "prompt_style": (str, None, "direct | steps | program (default: chosen per model)"),
    "select": (str, None, "default --select rule, e.g. weighted:self-certainty"),
    "threads": (int, None, "llama.cpp threads (default: physical cores)"),
    "context": (int, None, "llama.cpp context size cap in tokens"),
    "max_total_tokens": (int, None, "token budget per run"),
    "time_limit": (float, None, "wall-time budget per run, seconds"),
    "max_cost": (float, None, "cost budget per run, USD"),
    "base_url": (str, None, "OpenAI-compatible base URL for openai: models"),
    "parallel": (int, None, "concurrent requests for one question's samples to a server that ignores n (default: all, or what the server serves at once)"),
    "concurrency": (int, 16, "questions at once in think batch and think bench against a remote server"),
    "max_retries": (int, 4, "retries of a failed remote request"),
    "connect_timeout": (float, 10.0, "seconds to connect to a remote server"),
    "read_timeout": (float, 120.0, "seconds to wait for remote data"),
    "verify_timeout": (float, 60.0, "seconds a --verify command may run"),
    "verify_env": (str, None, "comma-separated variables passed to --verify commands although they look secret"),
}
# The one range check for numbers, whether they come from flags, THINK_* or the config file:
# key -> (lowest, highest); None is open. NaN and infinities are never accepted.
RANGES: dict[str, tuple[float | None, float | None]] = {
    "samples": (1, 256),
    "max_tokens": (1, 1_000_000),
    "temperature": (0.0, 5.0),
    "seed": (0, 2**31 - 1),
    "threads": (1, 1024),
    "context": (16, 10_000_000),
    "max_total_tokens": (1, None),
    "time_limit": (0.0, None),
    "max_cost": (0.0, None),
    "parallel": (1, 64),
    "max_retries": (0, 20),
    "connect_timeout": (0.1, 3600.0),
    "read_timeout": (0.1, 86400.0),
    "verify_timeout": (0.1, 86400.0),
    "confidence": (0.5, 1.0),
    "rounds": (0, 64),
    "beam_width": (1, 64),
    "think_min": (0, 1_000_000),
    "think_max": (1, 1_000_000),
}
# The fields a providers.NAME table may set (aliases.NAME takes any name, a model reference).
PROVIDER_FIELDS = {"base_url": str, "api_key_env": str}


def config_dir() -> Path:
    env = os.environ.get("THINK_CONFIG_DIR")
    if env:
        return Path(env)
    from platformdirs import user_config_dir

    return Path(user_config_dir(APP))


def config_path() -> Path:
    return config_dir() / "config.toml"


def _coerce(key: str, typ: type, value: Any, where: str) -> Any:
    """Check (file values) or parse (strings from env and `config set`) one value."""
    if isinstance(value, str) and typ is not str:
        text = value.strip()
        try:
            if typ is bool:
                if text.lower() in ("1", "true", "yes", "on"):
                    return True
                if text.lower() in ("0", "false", "no", "off"):
                    return False
                raise ValueError
            value = typ(text)
        except ValueError:
            raise ConfigError(f"{where}: key '{key}' must be {_type_name(typ)}, got {value!r}") from None
    if typ is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
        raise ConfigError(f"{where}: key '{key}' must be {_type_name(typ)}, got {value!r}")
    leaf = key.rsplit(".", 1)[-1]
    if leaf == "verify_env":
        env_names(None, {"verify_env": value})  # names only: a typo is caught where it is made
    if leaf in CHOICES and value not in CHOICES[leaf]:
        raise ConfigError(f"{where}: key '{key}' must be one of {', '.join(CHOICES[leaf])}, got {value!r}")
    return check_number(key, value, f"{where}: key '{key}'")


def check_number(key: str, value: Any, where: str) -> Any:
    """``value`` when it is a finite number inside ``RANGES[key]`` (or not a number);
    ConfigError naming where it came from otherwise.

    >>> check_number("samples", 4, "--samples")
    4
    >>> check_number("temperature", float("nan"), "--temperature")
    Traceback (most recent call last):
    ...
    thinkcli.errors.ConfigError: --temperature must be a number from 0 to 5, got nan
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    low, high = RANGES.get(key.rsplit(".", 1)[-1], (None, None))
    if not math.isfinite(value) or (low is not None and value < low) or (high is not None and value > high):
        if low is not None and high is not None:
            span = f"from {low:g} to {high:g}"
        elif low is not None:
            span = f"at least {low:g}"
        else:
            span = "finite"
        raise ConfigError(f"{where} must be a number {span}, got {value!r}")
    return value


def _type_name(typ: type) -> str:
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(typ, typ.__name__)


def validate(data: Mapping[str, Any], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key in SCHEMA:
            out[key] = _coerce(key, SCHEMA[key][0], value, where)
        elif key == "aliases":
            if not isinstance(value, dict):
                raise ConfigError(f"{where}: key 'aliases' must be a table")
            out[key] = {k: _coerce(f"aliases.{k}", str, v, where) for k, v in value.items()}
        elif key == "providers":
            if not isinstance(value, dict):
                raise ConfigError(f"{where}: key 'providers' must be a table")
            providers = {}
            for name, table in value.items():
                if not isinstance(table, dict):
                    raise ConfigError(f"{where}: key 'providers.{name}' must be a table")
                for field_ in table:
                    if field_ not in PROVIDER_FIELDS:
                        raise ConfigError(
                            f"{where}: unknown key 'providers.{name}.{field_}' "
                            f"(known: {', '.join(PROVIDER_FIELDS)})"
                        )
                providers[name] = {
                    f: _coerce(f"providers.{name}.{f}", PROVIDER_FIELDS[f], v, where) for f, v in table.items()
                }
            out[key] = providers
        else:
            raise ConfigError(f"{where}: unknown key '{key}'; `think config get` lists the known keys")
    return out


def read_file(path: Path | None = None) -> dict[str, Any]:
    """The config file's raw table ({} when there is none)."""
    path = path or config_path()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    return parse_toml(raw, f"config file {path}")


def parse_toml(raw: bytes, what: str) -> dict[str, Any]:
    """A TOML document, or one ConfigError line: bad UTF-8, bad TOML, or nesting so deep that
    the parser runs out of stack all mean "fix this file"."""
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{what} is not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{what} is nested too deeply to read") from None


def check_flags(values: Mapping[str, Any]) -> None:
    """Command-line numbers through the same range check as config and THINK_* values;
    ``values`` maps parameter names (``max_tokens``) to what was given (None: not given)."""
    for key, value in values.items():
        if key in RANGES and value is not None:
            check_number(key, value, "--" + key.replace("_", "-"))


def env_names(flags: list[str] | None, settings: Mapping[str, Any]) -> tuple[str, ...]:
    """Variables passed through to --verify commands: ``--verify-env`` names and the
    ``verify_env`` setting (comma-separated)."""
    names = [*(flags or []), *(settings.get("verify_env") or "").split(",")]
    out = []
    for name in (n.strip() for n in names):
        if not name:
            continue
        if not name.replace("_", "a").isalnum() or not name.isascii():
            raise ConfigError(f"verify_env: {name!r} is not an environment variable name")
        out.append(name)
    return tuple(dict.fromkeys(out))


def from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    out = {}
    for key, (typ, _, _) in SCHEMA.items():
        name = "THINK_" + key.upper()
        if environ.get(name, "") != "":
            out[key] = _coerce(key, typ, environ[name], f"environment variable {name}")
    return out


def load(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Effective settings: defaults < file < environment (flags are applied by the CLI)."""
    environ = os.environ if environ is None else environ
    settings = {key: default for key, (_, default, _) in SCHEMA.items()}
    settings["aliases"] = {}
    settings["providers"] = {}
    path = config_path()
    settings.update(validate(read_file(path), f"config file {path}"))
    settings.update(from_env(environ))
    return settings


# -- `think config get|set|unset` ------------------------------------------------


def _split(key: str) -> list[str]:
    parts = key.split(".")
    if parts[0] in SCHEMA and len(parts) == 1:
        return parts
    if parts[0] == "aliases" and len(parts) == 2 and parts[1]:
        return parts
    if parts[0] == "providers" and len(parts) == 3 and parts[1] and parts[2] in PROVIDER_FIELDS:
        return parts
    known = ", ".join([*SCHEMA, "aliases.NAME", "providers.NAME.base_url", "providers.NAME.api_key_env"])
    raise UsageError(f"unknown config key {key!r}; known keys: {known}")


def get(key: str | None = None) -> Any:
    settings = load()
    if key is None:
        return settings
    node: Any = settings
    for part in _split(key):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


@contextlib.contextmanager
def locked(name: str = "config"):
    """The config dir's lock for ``name`` (config, keys) around a read-modify-write
    (files.locked); a directory that cannot be written is one ConfigError line."""
    from thinkcli.files import locked as file_lock

    directory = config_dir()
    try:
        lock = file_lock(directory / f".{name}.lock")
        lock.__enter__()
    except OSError as exc:
        raise ConfigError(f"cannot write in the config directory {directory}: {exc.strerror}") from None
    try:
        yield
    finally:
        lock.__exit__(None, None, None)


def set_value(key: str, value: str) -> Any:
    parts = _split(key)
    typ = SCHEMA[parts[0]][0] if len(parts) == 1 else str
    parsed = _coerce(key, typ, value, "think config set")
    with locked():
        data = read_file()
        node = data
        for part in parts[:-1]:
            nxt = node.setdefault(part, {})
            if not isinstance(nxt, dict):
                raise ConfigError(f"config file {config_path()}: key '{part}' must be a table")
            node = nxt
        node[parts[-1]] = parsed
        validate(data, f"config file {config_path()}")
        write(data)
    return parsed


def unset(key: str) -> bool:
    parts = _split(key)
    with locked():
        data = read_file()
        chain = [data]
        for part in parts[:-1]:
            nxt = chain[-1].get(part)
            if not isinstance(nxt, dict):
                return False
            chain.append(nxt)
        if parts[-1] not in chain[-1]:
            return False
        del chain[-1][parts[-1]]
        for depth in range(len(parts) - 1, 0, -1):  # drop tables left empty
            if not chain[depth]:
                del chain[depth - 1][parts[depth - 1]]
        write(data)
    return True


def write(data: dict[str, Any], path: Path | None = None, mode: int = 0o644) -> None:
    """Write TOML atomically: a crash never leaves a half-written config."""
    import tomli_w

    from thinkcli.files import atomic_write

    path = path or config_path()
    try:
        atomic_write(path, tomli_w.dumps(data), mode)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror}") from None
