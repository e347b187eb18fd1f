"""Server-sent events: an incremental parser, pure and I/O-free.

Text arrives in arbitrary pieces (a line, half a line, several events at once);
``SSEParser.feed`` returns the events completed so far and keeps the rest. It
follows the WHATWG rules that matter for OpenAI-style streams: ``data:`` lines
joined with newlines, one optional space after the colon, comments (``:``)
ignored, ``\\r\\n``, ``\\n`` and ``\\r`` all end a line, a blank line ends an event.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class SSEEvent:
    data: str
    event: str = "message"
    id: str | None = None


class SSEParser:
    """
    >>> p = SSEParser()
    >>> p.feed('data: {"a"')
    []
    >>> [e.data for e in p.feed(': 1}\\n\\n: keep-alive\\n\\ndata: [DONE]\\n\\n')]
    ['{"a": 1}', '[DONE]']
    """

    def __init__(self) -> None:
        self._buffer = ""
        self._data: list[str] = []
        self._event = ""
        self._id: str | None = None
        self._cr_pending = False  # a '\r' ended the last piece: a following '\n' belongs to it

    def feed(self, text: str) -> list[SSEEvent]:
        if self._cr_pending and text.startswith("\n"):
            text = text[1:]
        self._cr_pending = False
        self._buffer += text
        out: list[SSEEvent] = []
        while True:
            cut = _line_end(self._buffer)
            if cut is None:
                break
            end, width = cut
            line = self._buffer[:end]
            if width == 1 and self._buffer[end] == "\r" and end + 1 == len(self._buffer):
                self._cr_pending = True  # '\r' at the end of a piece may be half of '\r\n'
            self._buffer = self._buffer[end + width :]
            event = self._line(line)
            if event is not None:
                out.append(event)
        return out

    def flush(self) -> list[SSEEvent]:
        """The event left open when the stream ended without its blank line (lenient: kept)."""
        events = self.feed("\n") if self._buffer else []
        if self._data:
            events.append(self._dispatch())
        return events

    def _line(self, line: str) -> SSEEvent | None:
        if line == "":
            return self._dispatch() if self._data else self._reset()
        if line.startswith(":"):
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self._id = value
        return None  # 'retry' and unknown fields are ignored

    def _dispatch(self) -> SSEEvent:
        event = SSEEvent("\n".join(self._data), self._event or "message", self._id)
        self._reset()
        return event

    def _reset(self) -> None:
        self._data = []
        self._event = ""
        return None


def _line_end(buffer: str) -> tuple[int, int] | None:
    """Index and width of the first line terminator in ``buffer``.

    >>> _line_end("ab\\r\\ncd"), _line_end("ab\\ncd"), _line_end("ab\\rcd"), _line_end("ab")
    ((2, 2), (2, 1), (2, 1), None)
    """
    n = buffer.find("\n")
    r = buffer.find("\r")
    if r == -1 and n == -1:
        return None
    if r != -1 and (n == -1 or r < n):
        return (r, 2) if buffer.startswith("\n", r + 1) else (r, 1)
    return (n, 1)
