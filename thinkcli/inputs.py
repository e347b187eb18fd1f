"""Building the prompt from words, piped stdin and ``-f`` files. UTF-8 text only."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

from thinkcli.errors import UsageError

MAX_INPUT = 16 << 20  # bytes: the most a prompt file or stdin may hold (no model takes more)

LANGS = {
    ".py": "python", ".js": "javascript", ".ts": "typescript", ".rs": "rust", ".go": "go",
    ".c": "c", ".h": "c", ".cpp": "cpp", ".java": "java", ".rb": "ruby", ".sh": "bash",
    ".md": "markdown", ".json": "json", ".toml": "toml", ".yaml": "yaml", ".yml": "yaml",
    ".diff": "diff", ".patch": "diff", ".sql": "sql", ".html": "html", ".css": "css",
}


def decode(data: bytes, what: str) -> str:
    if b"\x00" in data:
        raise UsageError(f"{what} is binary, not text; pass UTF-8 text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{what} is not UTF-8 text (byte {exc.start}); pass UTF-8 text") from None


def read_stdin(stdin=None) -> str:
    stream = stdin if stdin is not None else sys.stdin
    buffer = getattr(stream, "buffer", None)
    data = buffer.read(MAX_INPUT + 1) if buffer is not None else stream.read(MAX_INPUT + 1).encode("utf-8")
    if len(data) > MAX_INPUT:
        raise UsageError(f"stdin holds more than {MAX_INPUT >> 20} MiB; pass a smaller input")
    return decode(data, "stdin")


def read_file(name: str) -> bytes:
    """A regular file's bytes, at most MAX_INPUT of them. A FIFO, device or socket is refused
    before it is read: /dev/zero never ends and a FIFO waits for a writer forever."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise UsageError(f"no such file: {name}") from None
    except IsADirectoryError:
        raise UsageError(f"{name} is a directory; pass files") from None
    except OSError as exc:
        raise UsageError(f"cannot read {name}: {exc.strerror}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        if stat.S_ISDIR(mode):
            raise UsageError(f"{name} is a directory; pass files")
        raise UsageError(f"{name} is not a regular file (a device, FIFO or socket); pass a file")
    with os.fdopen(fd, "rb") as f:
        try:
            data = f.read(MAX_INPUT + 1)
        except OSError as exc:
            raise UsageError(f"cannot read {name}: {exc.strerror}") from None
    if len(data) > MAX_INPUT:
        raise UsageError(f"{name} is larger than {MAX_INPUT >> 20} MiB; pass a smaller file")
    return data


def fenced(name: str, text: str) -> str:
    """A file as a fenced block labelled with its path (the same label `think fix` reads back).

    >>> print(fenced("a.py", "x = 1\\n"))
    ```python path=a.py
    x = 1
    ```
    """
    lang = LANGS.get(Path(name).suffix.lower(), "")
    fence = "```"
    while fence in text:
        fence += "`"
    head = f"{fence}{lang} path={name}" if lang else f"{fence} path={name}"
    return f"{head}\n{text.rstrip(chr(10))}\n{fence}"


def stdin_is_terminal(stdin=None) -> bool:
    stream = stdin if stdin is not None else sys.stdin
    if stream is None:
        return True
    try:
        return os.isatty(stream.fileno())
    except (AttributeError, OSError, ValueError):
        return bool(getattr(stream, "isatty", lambda: True)())


def _word(word: str) -> str:
    """A prompt word; bytes that are not UTF-8 reach Python as lone surrogates."""
    try:
        word.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise UsageError(f"the prompt is not UTF-8 text (at character {exc.start + 1} of {word!r}); pass UTF-8 text") from None
    return word


def build_prompt(words: list[str], files: list[str], stdin=None) -> str:
    """Piped stdin, then files, then the words, separated by blank lines."""
    parts: list[str] = []
    uses_stdin_file = "-" in files
    if not uses_stdin_file and not stdin_is_terminal(stdin):
        piped = read_stdin(stdin)
        if piped.strip():
            parts.append(piped.rstrip("\n"))
    for name in files:
        if name == "-":
            if stdin_is_terminal(stdin):
                raise UsageError("-f - reads stdin, but stdin is a terminal; pipe the file in")
            parts.append(fenced("stdin", read_stdin(stdin)))
            continue
        parts.append(fenced(name, decode(read_file(name), name)))
    question = " ".join(_word(w) for w in words).strip()
    if question:
        parts.append(question)
    prompt = "\n\n".join(parts).strip()
    if not prompt:
        if stdin_is_terminal(stdin) and not files:
            raise UsageError('no prompt given; usage: think "QUESTION" (or pipe text in); see think --help')
        raise UsageError("empty input: stdin and files held no text and no prompt was given")
    return prompt
