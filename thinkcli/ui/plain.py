"""Non-terminal stderr: nothing while running, the summary line at the end (unless -q)."""

from __future__ import annotations

import sys

from thinkcli.events import Event, Notice, Retry
from thinkcli.ui.safe import one_line
from thinkcli.ui.summary import summary_line


class PlainRenderer:
    def __init__(self, quiet: bool = False, stream=None) -> None:
        self.quiet = quiet
        self.stream = stream or sys.stderr

    def emit(self, event: Event) -> None:
        if isinstance(event, Retry) and not self.quiet:
            print(one_line(f"Retrying in {event.after_s:.1f} s ({event.reason})"), file=self.stream, flush=True)
        elif isinstance(event, Notice) and not self.quiet:
            print(f"think: warning: {one_line(event.text)}", file=self.stream, flush=True)

    def stop(self) -> None:
        pass

    def close(self, result) -> None:
        if result is not None and not self.quiet:
            print(one_line(summary_line(result)), file=self.stream, flush=True)
