"""API keys: where they are stored, which one a request may carry, and how they stay hidden.

A stored key lives in ``keys.toml`` in the user config dir (file mode 0600),
bound to the base URL it was configured for; it is only ever sent to that URL.
Keys from the environment are sent only to their provider's base URL. A key is
held in a ``Secret`` whose repr and str are masked, so a traceback, a log line
or an error message never shows it.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from thinkcli.errors import ConfigError, UsageError

DEFAULT_BASE_URL = "https://api.openai.com/v1"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class Secret:
    """A key that never prints itself.

    >>> s = Secret("sk-123")
    >>> repr(s), str(s), f"{s}", s.reveal()
    ("Secret('***')", '***', '***', 'sk-123')
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    __format__ = lambda self, spec: "***"  # noqa: E731 - f-strings too

    def __eq__(self, other) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass
class KeyChoice:
    """The key a request carries (None: no Authorization header) and how to fix a 401."""

    secret: Secret | None
    hint: str  # e.g. "set OPENAI_API_KEY or run `think keys set openai`"


def same_url(a: str, b: str) -> bool:
    """Base URLs compared the way a server sees them: case-blind scheme and host, no trailing '/'.

    >>> same_url("HTTPS://API.openai.com/v1/", "https://api.openai.com/v1")
    True
    >>> same_url("http://127.0.0.1:8000/v1", "http://127.0.0.1:8001/v1")
    False
    """
    return _norm(a) == _norm(b)


def _norm(url: str) -> str:
    url = url.strip().rstrip("/")
    scheme, sep, rest = url.partition("://")
    host, slash, path = rest.partition("/")
    return f"{scheme.lower()}{sep}{host.lower()}{slash}{path}"


def env_name(provider: str) -> str:
    """The default environment variable of a provider's key.

    >>> env_name("groq"), env_name("open-router")
    ('GROQ_API_KEY', 'OPEN_ROUTER_API_KEY')
    """
    return re.sub(r"\W", "_", provider).upper() + "_API_KEY"


def keys_path() -> Path:
    from thinkcli.config import config_dir

    return config_dir() / "keys.toml"


def read_keys() -> dict[str, dict[str, str]]:
    from thinkcli.config import tomllib

    path = keys_path()
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError):
        raise ConfigError(f"keys file {path} is unreadable or not valid TOML; remove it and run `think keys set`") from None
    return {n: t for n, t in data.items() if isinstance(t, dict) and isinstance(t.get("key"), str)}


def _write(data: dict) -> None:
    import tomli_w

    from thinkcli.files import atomic_write

    path = keys_path()
    try:
        atomic_write(path, tomli_w.dumps(data), 0o600)  # the temporary file is 0600 from the start
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror}") from None


def check_name(name: str) -> str:
    if not NAME_RE.match(name):
        raise UsageError(f"key name {name!r} must be letters, digits, '_', '.' or '-' (e.g. openai, groq)")
    return name


def default_url(name: str, settings: Mapping, environ: Mapping[str, str]) -> str | None:
    """The base URL a key named ``name`` is for, when the user gave none."""
    provider = (settings.get("providers") or {}).get(name) or {}
    if provider.get("base_url"):
        return provider["base_url"]
    if name == "openai":
        return settings.get("base_url") or environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
    if name == "huggingface":  # the Hub token for `think models pull`, bound to the Hub's host
        return (environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")
    return None


def set_key(name: str, key: str, base_url: str) -> None:
    check_name(name)
    key = key.strip()
    if not key:
        raise UsageError("no key given; paste it at the prompt or pipe it on stdin")
    if any(c.isspace() for c in key):
        raise UsageError("the key contains whitespace; paste exactly the key")
    if not key.isascii() or not key.isprintable():
        raise UsageError("the key has characters an API key never has (it must be printable ASCII); paste exactly the key")
    if not re.match(r"^https?://[^/\s]+", base_url):
        raise UsageError(f"base URL {base_url!r} must start with http:// or https://")
    from thinkcli.config import locked

    with locked("keys"):  # read-modify-write: concurrent `keys set` must not lose entries
        data = read_keys()
        data[name] = {"key": key, "base_url": base_url.rstrip("/")}
        _write(data)
    remember_secret(key)


def unset_key(name: str) -> bool:
    from thinkcli.config import locked

    with locked("keys"):
        data = read_keys()
        if name not in data:
            return False
        del data[name]
        _write(data)
    return True


def list_keys() -> list[tuple[str, str]]:
    """(name, base URL) of every stored key; never the key."""
    return sorted((n, t.get("base_url", "")) for n, t in read_keys().items())


def read_key_input(prompt: str, stdin=None) -> str:
    """The key from a hidden prompt on a terminal, else the first line of stdin."""
    stdin = stdin or sys.stdin
    if stdin.isatty():
        import getpass

        return getpass.getpass(prompt)
    buffer = getattr(stdin, "buffer", None)
    line = buffer.readline(4096) if buffer is not None else (stdin.readline(4096) or "").encode("utf-8", "replace")
    try:
        return line.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise UsageError("the key read from stdin is not UTF-8 text; paste exactly the key") from None


# Variable names whose values are keys think may send or be given: blanked wherever they show.
KEY_SUFFIXES = ("_API_KEY", "_APIKEY", "_TOKEN", "_SECRET", "_SECRET_KEY", "_ACCESS_KEY", "_PASSWORD")
MIN_SECRET = 8  # shorter values would blank ordinary words
_known: tuple[str, ...] | None = None


def known_secrets(environ: Mapping[str, str] | None = None, refresh: bool = False) -> tuple[str, ...]:
    """Every key this process knows of: stored keys, key-like environment variables and each
    provider's ``api_key_env``. Read once per process; a broken keys file only costs its keys."""
    global _known
    if _known is not None and not refresh and environ is None:
        return _known
    environ = os.environ if environ is None else environ
    found: set[str] = set()
    try:
        found.update(t["key"] for t in read_keys().values())
    except ConfigError:
        pass
    names = {n for n in environ if n.upper().endswith(KEY_SUFFIXES) or n.upper() in ("HF_TOKEN", "API_KEY")}
    try:
        from thinkcli.config import read_file

        providers = read_file().get("providers") or {}
        names.update(t["api_key_env"] for t in providers.values()
                     if isinstance(t, dict) and isinstance(t.get("api_key_env"), str))
    except Exception:  # a broken config file is reported where it is read, not here
        pass
    found.update(environ[n].strip() for n in names if n in environ)
    secrets = tuple(sorted((v for v in found if len(v) >= MIN_SECRET), key=len, reverse=True))
    if environ is os.environ:
        _known = secrets
    return secrets


def remember_secret(value: str) -> None:
    """A key learned at run time (e.g. just stored) is blanked from then on."""
    global _known
    if len(value) >= MIN_SECRET:
        _known = tuple(sorted({*known_secrets(), value}, key=len, reverse=True))


def redact(text: str, secrets: tuple[str, ...] | None = None) -> str:
    """``text`` with every known key blanked to ``***`` (also as JSON escapes it).

    >>> redact("key sk-abcdefgh1234 echoed", ("sk-abcdefgh1234",))
    'key *** echoed'
    """
    import json

    for secret in known_secrets() if secrets is None else secrets:
        for form in {secret, json.dumps(secret)[1:-1]}:
            if form in text:
                text = text.replace(form, "***")
    return text


def choose_key(provider: str, base_url: str, options: Mapping, environ: Mapping[str, str] | None = None) -> KeyChoice:
    """The key a request to ``base_url`` for ``provider`` may carry; never one bound elsewhere.

    ``provider`` is the scheme of the model reference (``openai``, ``groq``);
    ``options`` its config table (base_url, api_key_env) or {}.
    """
    environ = os.environ if environ is None else environ
    stored = read_keys()
    env = options.get("api_key_env") or env_name(provider)
    if env == "OPENAI_API_KEY":
        # OpenAI's variable belongs to OpenAI (or the OPENAI_BASE_URL the user set beside it),
        # whatever a config file says: a providers.openai.base_url never receives it.
        own_urls = [DEFAULT_BASE_URL] + ([environ["OPENAI_BASE_URL"]] if environ.get("OPENAI_BASE_URL") else [])
    else:
        own_urls = [options.get("base_url") or ""]
    env_ok = any(same_url(base_url, u) for u in own_urls if u)
    if env_ok:
        hint = f"set {env} or run `think keys set {provider}`"
    else:
        hint = f"run `think keys set NAME --base-url {base_url}`"
    if env_ok and environ.get(env, "").strip():
        return KeyChoice(Secret(_sendable(environ[env].strip(), f"environment variable {env}")), hint)
    named = stored.get(provider)
    if named and same_url(named.get("base_url", ""), base_url):
        return KeyChoice(Secret(_sendable(named["key"], f"stored key {provider!r}")), hint)
    for name, table in sorted(stored.items()):
        if same_url(table.get("base_url", ""), base_url):
            return KeyChoice(Secret(_sendable(table["key"], f"stored key {name!r}")), hint)
    return KeyChoice(None, hint)


def _sendable(key: str, where: str) -> str:
    """A key fit for an HTTP header (printable ASCII, no spaces), or a one-line error naming
    where it came from and never the key."""
    if not key.isascii() or not key.isprintable() or any(c.isspace() for c in key):
        raise UsageError(f"the {where} is not a valid API key (it must be printable ASCII without spaces); set it again")
    return key
