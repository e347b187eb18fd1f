"""The Rich live view on stderr: each sample's reasoning as it streams, and a status line.

One sample gets a panel with its newest lines; several samples get one compact
row each (newest text, tokens, the answer as soon as its line is written, the
verdict), then the running vote tally with its confidence, the escalation path
(auto's probe → vote → verify), and the total tokens and cost so far.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from thinkcli.events import (
    AnswerSeen,
    BudgetStop,
    Event,
    Final,
    Generation,
    Notice,
    Retry,
    RoundStarted,
    SampleDone,
    SampleStarted,
    Spend,
    Token,
    VerifyDone,
    VerifyStarted,
    Vote,
)
from thinkcli.ui.safe import shown
from thinkcli.ui.summary import cost_text, summary_line

PANEL_LINES = 12
MAX_ROWS = 16  # more samples than this show as the newest rows and a count of the hidden ones


@dataclass
class Row:
    index: int
    label: str = ""
    text: list[str] = field(default_factory=list)
    tokens: int = 0
    answer: str | None = None
    done: bool = False
    verdict: str = ""
    key: str | None = None  # what the answer votes as (from the events)


class LiveRenderer:
    def __init__(self, console: Console | None = None, clock=time.monotonic) -> None:
        self.console = console or Console(stderr=True, highlight=False)
        self.clock = clock
        self.started = clock()
        self.rows: dict[int, Row] = {}
        self.tally: Vote | None = None
        self.rounds: list[str] = []
        self.notice = ""
        self.collapsed = False  # set at the end when the panel would repeat the answer
        self.tokens = 0
        self.prompt_tokens = 0
        self.cost = ""
        self.live = Live(
            console=self.console,
            refresh_per_second=10,
            transient=False,
            get_renderable=self.render,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self.live.start()

    # -- events ------------------------------------------------------------------

    def emit(self, event: Event) -> None:
        if isinstance(event, SampleStarted):
            self.rows[event.sample] = Row(event.sample, event.label)
        elif isinstance(event, Token):
            row = self.rows.setdefault(event.sample, Row(event.sample))
            row.text.append(event.text)
            row.tokens += 1
            self.tokens += 1
        elif isinstance(event, AnswerSeen):  # the answer line is written; the sample goes on
            row = self.rows.setdefault(event.sample, Row(event.sample))
            if not row.done:
                row.answer, row.key = event.answer, event.key
        elif isinstance(event, Generation):
            self.prompt_tokens += event.usage.prompt_tokens
        elif isinstance(event, SampleDone):
            row = self.rows.setdefault(event.sample, Row(event.sample))
            row.done = True
            row.answer, row.key = event.answer, event.key
            row.tokens = event.usage.completion_tokens or row.tokens
        elif isinstance(event, Spend):
            self.cost = cost_text(event, so_far=True)
        elif isinstance(event, Vote):
            self.tally = event
        elif isinstance(event, VerifyStarted):
            self.rows.setdefault(event.sample, Row(event.sample)).verdict = "verifying…"
        elif isinstance(event, VerifyDone):
            v = event.verdict
            mark = "passed" if v.passed else ("failed" if v.passed is False else f"score {v.score:.2f}")
            detail = f": {v.detail}" if v.detail else ""
            self.rows.setdefault(event.sample, Row(event.sample)).verdict = f"{mark}{detail}"
        elif isinstance(event, RoundStarted):
            self.rounds.append(event.name)
        elif isinstance(event, Retry):
            self.notice = shown(f"Retrying in {event.after_s:.1f} s ({event.reason})")
            self.console.print(Text(self.notice, style="yellow"))
        elif isinstance(event, Notice):
            self.notice = shown(event.text)
            self.console.print(Text(f"think: warning: {self.notice}", style="yellow"))
        elif isinstance(event, BudgetStop):
            self.notice = shown(f"{event.budget} budget reached ({event.detail}); keeping the best answer so far")
        elif isinstance(event, Final):
            self.cost = cost_text(event.result)
            answer = (event.result.answer or "").strip()
            rows = list(self.rows.values())
            # The whole reply is the answer and stdout prints it next: don't show it twice.
            self.collapsed = len(rows) == 1 and bool(answer) and answer == "".join(rows[0].text).strip()
            self.stop()

    def stop(self) -> None:
        if self.live.is_started:
            self.live.refresh()
            self.live.stop()

    def close(self, result) -> None:
        self.stop()
        if result is not None:
            self.console.print(Text(shown(summary_line(result)), style="dim"))

    # -- rendering ---------------------------------------------------------------

    def status(self) -> Text:
        elapsed = max(self.clock() - self.started, 1e-6)
        rate = self.tokens / elapsed
        parts = [f"{self.tokens} tokens", f"{rate:.1f} tok/s", f"{elapsed:.1f} s"]
        if len(self.rows) > 1:
            parts[0] = f"{self.prompt_tokens} prompt + {self.tokens} completion tokens"
            parts.insert(1, f"{sum(r.done for r in self.rows.values())}/{len(self.rows)} samples done")
        if self.cost:
            parts.append(self.cost)
        if self.rounds and len(self.rows) <= 1:
            parts.append(" → ".join(self.rounds))
        line = Text(" · ".join(parts), style="dim")
        if self.notice:
            line.append("  " + self.notice, style="yellow")
        return line

    def render(self):
        rows = sorted(self.rows.values(), key=lambda r: r.index)
        if len(rows) <= 1:
            return self._render_one(rows[0] if rows else None)
        return self._render_many(rows)

    def _render_one(self, row: Row | None):
        if self.collapsed:
            return self.status()
        # Model text is text: keys blanked and escapes removed before it is cut into lines,
        # and Text (never markup) so that "[/]" in an answer is shown, not parsed.
        text = shown("".join(row.text)) if row else ""
        lines = text.splitlines()[-PANEL_LINES:] or [""]
        answer = shown((row.answer or "?").strip()).split("\n")[0][:60] if row else ""
        title = "thinking…" if not (row and row.done) else f"answer: {answer}"
        if row and row.verdict:
            title += f" · {shown(row.verdict)}"
        return Group(Panel(Text("\n".join(lines)), title=Text(title), title_align="left", border_style="blue"),
                     self.status())

    def _render_many(self, rows: list[Row]):
        table = Table.grid(padding=(0, 1))
        table.add_column(justify="right", style="bold", no_wrap=True)
        table.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
        table.add_column(justify="right", style="dim", no_wrap=True)
        table.add_column(no_wrap=True)
        width = max(20, self.console.width - 40)
        leader = self.tally.leader_key if self.tally else None
        room = max(3, min(MAX_ROWS, self.console.height - 6))  # rows that fit
        for row in rows[-room:]:
            newest = shown("".join(row.text).replace("\n", " ⏎ ")).strip()[-width:]
            answer = Text()
            if row.answer is not None:
                agrees = leader is not None and row.key == leader
                answer.append(f"→ {shown(row.answer)[:24]}", style="bold green" if agrees else "green" if row.done else "cyan")
            elif row.done:
                answer.append("→ ?", style="red")
            if row.verdict:
                style = "green" if row.verdict.startswith("passed") else "red" if row.verdict.startswith("failed") else "yellow"
                answer.append(f" {shown(row.verdict)[:40]}", style=style)
            label = Text(f"#{row.index}{' ' + row.label if row.label else ''}")
            table.add_row(label, Text(newest), Text(f"{row.tokens} tok"), answer)
        parts = [table]
        if len(rows) > room:
            parts.append(Text(f"… {len(rows) - room} earlier samples not shown", style="dim"))
        if self.tally and self.tally.tally:
            top = sorted(self.tally.tally.items(), key=lambda kv: -kv[1])[:5]
            voters = sum(self.tally.tally.values())
            vote = Text(f"votes ({voters}): ", style="cyan")
            vote.append("  ".join(f"{shown(k)[:20]}×{v}" for k, v in top), style="bold cyan")
            if self.tally.confidence is not None:
                vote.append(f"  leader {shown(self.tally.leader or '?')}"[:40] + f" · confidence {self.tally.confidence:.0%}",
                            style="cyan")
            parts.append(vote)
        if self.rounds:
            parts.append(Text(shown("path: " + " → ".join(self.rounds)), style="magenta"))
        parts.append(self.status())
        return Group(*parts)
