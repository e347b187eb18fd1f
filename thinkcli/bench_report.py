"""`think bench` output: the results as a text table and as a plot of accuracy against tokens."""

from __future__ import annotations

from pathlib import Path

from thinkcli.errors import ThinkError, UsageError


def table(results: list) -> str:
    """The results (bench.CellResult, one per cell) as an aligned text table."""
    head = ("strategy", "samples", "style", "accuracy", "tokens/q", "samples/q", "wall s")
    rows = [head]
    for r in results:
        rows.append((r.strategy + (" (fixed)" if r.fixed else ""), str(r.samples), r.prompt_style,
                     f"{100 * r.accuracy:.1f}% ({r.correct}/{r.total})", f"{r.tokens_per_question:.1f}",
                     f"{r.samples_drawn / max(r.total, 1):.2f}", f"{r.wall_s:.1f}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
             for row in rows]
    return "\n".join(line.rstrip() for line in lines)


def plot_check(path: str):
    """Fail before the grid runs when the plot could not be drawn; return pyplot."""
    suffix = Path(path).suffix.lower()
    if suffix not in (".png", ".svg", ".pdf"):
        raise UsageError(f"--plot {path}: give a .png, .svg or .pdf file")
    if not Path(path).resolve().parent.is_dir():
        raise UsageError(f"--plot {path}: no directory {Path(path).parent}")
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display needed, ever
        import matplotlib.pyplot as plt
    except ImportError:
        raise ThinkError("--plot needs matplotlib; pip install 'thinkcli[plot]'") from None
    return plt


def plot(results: list, path: str, title: str = "") -> None:
    """Accuracy against completion tokens per question: one line per strategy and style."""
    plt = plot_check(path)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    series: dict[str, list] = {}
    for r in results:
        series.setdefault(f"{r.strategy}{' (fixed)' if r.fixed else ''} · {r.prompt_style}", []).append(r)
    for name, rs in series.items():
        rs = sorted(rs, key=lambda r: r.tokens_per_question)
        xs, ys = [r.tokens_per_question for r in rs], [100 * r.accuracy for r in rs]
        ax.plot(xs, ys, marker="o", label=name)
        for r, x, y in zip(rs, xs, ys, strict=True):
            ax.annotate(f"n={r.samples}", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xlabel("completion tokens per question")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(title or "accuracy vs compute")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    try:
        fig.savefig(path)
    except OSError as exc:
        raise ThinkError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)
