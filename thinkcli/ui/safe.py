"""What may reach the user's terminal and streams: text without control sequences, without keys.

Model and server text is data, never terminal commands: escape sequences (window title,
OSC 52 clipboard writes, screen clears) and other control characters are removed before
anything is shown on a terminal. Every known key is blanked in whatever ``think`` writes to
stdout and stderr; the CLI installs the source of those keys at start-up (this room does
not know where keys live).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable

# CSI, OSC (ended by BEL or ST), and the other ESC sequences; then C0/C1 controls but \t and \n.
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor moves, screen clears
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\|$)"  # OSC: window title, clipboard (52), hyperlinks
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\|$)"  # DCS, SOS, PM, APC strings
    r"|\x1b[ -/]*[0-~]?"  # any other escape
    r"|\x9b[0-?]*[ -/]*[@-~]|\x9d[^\x07\x9c]*(?:\x07|\x9c|$)"  # 8-bit CSI and OSC
)
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")

_redactor: Callable[[str], str] = str  # set by install_redaction


def for_terminal(text: str) -> str:
    r"""``text`` without escape sequences and control characters (tabs and newlines stay).

    >>> for_terminal("ok\x1b]52;c;ZXZpbA==\x07 \x1b[2Jdone\x1b]0;title\x1b\\ \r\x07end\n")
    'ok done end\n'
    """
    return _CONTROLS.sub("", _ESCAPES.sub("", text))


def redact(text: str) -> str:
    """``text`` with every key the CLI knows of blanked to ``***``."""
    return _redactor(text)


def shown(text: str) -> str:
    """Model or server text as the live view may show it: no keys, no control sequences."""
    return for_terminal(redact(text))


def one_line(text: str) -> str:
    r"""A message as one terminal-safe line.

    >>> one_line("bad\nthing\x1b[31m here")
    'bad thing here'
    """
    return " ".join(for_terminal(str(text)).split())


class _Redacting:
    """A text stream that blanks known keys in everything written through it."""

    def __init__(self, stream) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(redact(text))
        return len(text)

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name):  # isatty, fileno, flush, encoding, buffer...
        return getattr(self._stream, name)


class _TerminalSafe(_Redacting):
    """A stream on a terminal that shows text as text: escape sequences and controls removed."""

    def write(self, text: str) -> int:
        self._stream.write(for_terminal(text))
        return len(text)


def terminal_safe(stream):
    """``stream`` itself when it is not a terminal (pipes get the bytes as they are), else a
    wrapper that strips escape sequences from everything written to it."""
    isatty = getattr(stream, "isatty", None)
    return _TerminalSafe(stream) if isatty is not None and isatty() else stream


def install_redaction(redactor: Callable[[str], str]) -> None:
    """Route sys.stdout and sys.stderr through ``redactor`` (text -> text with keys blanked),
    which the live view also applies to model text before it is wrapped into lines."""
    global _redactor
    _redactor = redactor
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, _Redacting):
            setattr(sys, name, _Redacting(stream))
