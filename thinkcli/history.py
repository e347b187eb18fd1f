"""The SQLite log of runs behind `think logs`.

One row per run: when, model, strategy, prompt, answer, tokens, cost, wall time,
and the whole JSON document. Settings are never stored, so API keys cannot leak
here. Logging is best effort: a full disk or a locked database never fails a run.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path

from thinkcli.errors import ThinkError

SCHEMA = """
create table if not exists runs (
    id integer primary key,
    at real not null,
    model text not null,
    strategy text not null,
    prompt text not null,
    answer text,
    prompt_tokens integer not null,
    completion_tokens integer not null,
    cost_usd real,
    wall_s real not null,
    status integer not null,
    document text not null
)
"""


def db_path() -> Path:
    env = os.environ.get("THINK_HISTORY_DB")
    if env:
        return Path(env)
    from thinkcli.files import data_dir

    return data_dir() / "history.db"


def enabled() -> bool:
    return os.environ.get("THINK_NO_HISTORY", "") in ("", "0")


def _connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=2)
    conn.execute(SCHEMA)
    return conn


def record(prompt: str, result, status: int, path: Path | None = None, scrub=None) -> int | None:
    """Log one run; returns its id, or None when logging is off or failed. ``scrub`` (text ->
    text) blanks keys in everything stored: a key a server echoed never lands on disk."""
    if not enabled():
        return None
    scrub = scrub or (lambda text: text)
    try:
        with _connect(path or db_path()) as conn:
            cur = conn.execute(
                "insert into runs (at, model, strategy, prompt, answer, prompt_tokens, completion_tokens,"
                " cost_usd, wall_s, status, document) values (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    time.time(),
                    result.model,
                    result.strategy,
                    scrub(prompt),
                    scrub(result.answer) if result.answer is not None else None,
                    result.usage.prompt_tokens,
                    result.usage.completion_tokens,
                    result.cost_usd,
                    result.wall_s,
                    int(status),
                    scrub(json.dumps(result.as_dict(), ensure_ascii=False)),
                ),
            )
            return cur.lastrowid
    except (sqlite3.Error, OSError):
        return None


def recent(limit: int = 10, path: Path | None = None) -> list[dict]:
    """The newest runs first."""
    path = path or db_path()
    if not path.exists():
        return []
    try:
        with _connect(path) as conn:
            conn.row_factory = sqlite3.Row
            rows = conn.execute("select * from runs order by id desc limit ?", (limit,)).fetchall()
    except (sqlite3.Error, OSError) as exc:
        raise ThinkError(f"cannot read the history database {path} ({exc}); move it away to start a new one") from None
    return [dict(r) for r in rows]
