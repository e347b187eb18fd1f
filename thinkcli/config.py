"""Settings: defaults < config file (TOML) < ``THINK_*`` environment < flags.

The file lives in the platformdirs user config dir (``THINK_CONFIG_DIR``
overrides it) and is written with tomli-w. Every key has a type in ``SCHEMA``;
a bad file is an error naming the file and the key, never a traceback.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from thinkcli.errors import ConfigError, UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

APP = "thinkcli"
CHOICES = {
    "effort": ("low", "medium", "high", "auto"),
    "prompt_style": ("direct", "steps"),
}

# key -> (type, default, help)
SCHEMA: dict[str, tuple[type, Any, str]] = {
    "model": (str, None, "model reference used when -m is not given"),
    "effort": (str, "low", "default --effort"),
    "strategy": (str, None, "default --strategy (overrides the effort preset's)"),
    "samples": (int, None, "default --samples"),
    "max_tokens": (int, 512, "completion tokens per sample"),
    "temperature": (float, None, "sampling temperature"),
    "seed": (int, None, "random seed"),
    "system": (str, None, "system prompt"),
    "prompt_style": (str, None, "direct | steps (default: chosen per model)"),
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
    if leaf in CHOICES and value not in CHOICES[leaf]:
        raise ConfigError(f"{where}: key '{key}' must be one of {', '.join(CHOICES[leaf])}, got {value!r}")
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
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None


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


def set_value(key: str, value: str) -> Any:
    parts = _split(key)
    typ = SCHEMA[parts[0]][0] if len(parts) == 1 else str
    parsed = _coerce(key, typ, value, "think config set")
    data = read_file()
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = parsed
    validate(data, f"config file {config_path()}")
    write(data)
    return parsed


def unset(key: str) -> bool:
    parts = _split(key)
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

    path = path or config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".config-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            tomli_w.dump(data, f)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
