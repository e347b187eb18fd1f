"""One sample's text as it is decoded: UTF-8 reassembly, stop strings, counts, log-probs, signals.

Pure Python (no llama.cpp): the batched decoder feeds each sample's chosen token
bytes here and gets back the text that is safe to show, so this room can be
tested and reasoned about without a model.
"""

from __future__ import annotations

import codecs

from thinkcli.events import Generation, Usage
from thinkcli.signals import Trace


class SampleText:
    """The growing completion of one sample.

    ``feed(piece, logprob)`` returns the newly showable text: bytes that end
    inside a UTF-8 character wait for the next token, and text that could be
    the start of a stop string waits until it is known not to be one. When a
    stop string appears, the text is cut before it and ``stopped`` is set.

    >>> s = SampleText(stop=("\\n\\n",))
    >>> s.feed(b"Hi", -0.1), s.feed(b"\\n", -0.2), s.feed(b"\\nBye", -0.3), s.stopped
    ('Hi', '', '', True)
    >>> s.text, s.tokens, s.logprobs
    ('Hi', 3, [-0.1, -0.2, -0.3])
    >>> t = SampleText(); t.feed("é".encode()[:1]), t.feed("é".encode()[1:])
    ('', 'é')
    """

    def __init__(self, stop: tuple[str, ...] = ()) -> None:
        self.stop = tuple(s for s in stop if s)
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._text = ""  # everything decoded so far, stop string included
        self._shown = 0  # characters of _text already returned by feed()
        self.stopped = False
        self.tokens = 0
        self.trace = Trace()  # per-token log-probs and confidence: the sample's signals

    @property
    def logprobs(self) -> list[float]:
        return self.trace.logprobs

    @property
    def text(self) -> str:
        return self._text

    def feed(self, piece: bytes, logprob: float | None = None, certainty: float | None = None,
             confidence: float | None = None) -> str:
        """Add one chosen token (with what signals.logit_stats said of it); return the text
        that became safe to show."""
        self.tokens += 1
        self.trace.add(logprob, certainty, confidence)
        return self._add(self._decoder.decode(piece))

    def flush(self) -> str:
        """The sample ended: release what was held back (a dangling byte becomes U+FFFD)."""
        if self.stopped:
            return ""
        tail = self._add(self._decoder.decode(b"", final=True))
        rest = self._text[self._shown :]
        self._shown = len(self._text)
        return tail + rest

    def _add(self, new: str) -> str:
        if self.stopped or not new:
            return ""
        start = max(0, len(self._text) - max((len(s) for s in self.stop), default=0))
        self._text += new
        if self.stop:
            hits = [i for i in (self._text.find(s, start) for s in self.stop) if i >= 0]
            if hits:
                self._text = self._text[: min(hits)]
                self.stopped = True
                out = self._text[self._shown :]
                self._shown = len(self._text)
                return out
        safe = len(self._text) - self._held()
        out = self._text[self._shown : safe]
        self._shown = max(self._shown, safe)
        return out

    def _held(self) -> int:
        """Length of the longest tail of the text that begins some stop string."""
        best = 0
        for s in self.stop:
            for k in range(min(len(s) - 1, len(self._text)), best, -1):
                if self._text.endswith(s[:k]):
                    best = k
                    break
        return best

    def generation(self, sample: int, prompt_tokens: int, finish: str, with_logprobs: bool,
                   cached: int = 0, window: int = 16) -> Generation:
        return Generation(
            sample,
            self._text,
            Usage(prompt_tokens, self.tokens, cached_tokens=cached),
            finish_reason=finish,
            logprobs=list(self.logprobs) if with_logprobs else None,
            signals=self.trace.signals(window) if with_logprobs else {},
        )
