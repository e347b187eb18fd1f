"""`--json`: one JSON document on stdout built from the Final event."""

from __future__ import annotations

import json
import sys

from thinkcli.events import Event


class JsonRenderer:
    """Wraps the stderr renderer; writes the document when closed."""

    def __init__(self, inner, stream=None) -> None:
        self.inner = inner
        self.stream = stream or sys.stdout

    def emit(self, event: Event) -> None:
        self.inner.emit(event)

    def stop(self) -> None:
        self.inner.stop()

    def close(self, result) -> None:
        if result is not None:
            # One write: the stream blanks keys, and a key must not straddle two writes.
            self.stream.write(json.dumps(result.as_dict(), ensure_ascii=False, indent=2) + "\n")
            self.stream.flush()
        self.inner.close(result)
