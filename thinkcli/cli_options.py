"""The ask options as reusable Typer annotations, so `think batch` (and `think QUESTION`) declare each once.

Each name is ``Annotated[type, typer.Option(...)]`` with the flag, its checks and
its help; a command lists them as parameters with a ``None`` default.
"""

from __future__ import annotations

from typing import Annotated

import typer

from thinkcli.cli_app import Effort, PromptStyle, Strategy

System = Annotated[str | None, typer.Option("--system", "-s", help="System prompt.", show_default=False)]
ModelOpt = Annotated[str | None, typer.Option("--model", "-m", help="Model: a .gguf path, an alias, or scheme:name. Default: the embedded SmolLM2-135M.", show_default=False)]
EffortOpt = Annotated[Effort | None, typer.Option("--effort", "-e", help="How much compute to spend: low | medium | high | auto.", show_default=False)]
Samples = Annotated[int | None, typer.Option("--samples", "-n", min=1, max=256, help="Number of samples (overrides the preset).", show_default=False)]
MaxTokens = Annotated[int | None, typer.Option("--max-tokens", min=1, help="Completion tokens per sample \\[default: 512].", show_default=False)]
Temperature = Annotated[float | None, typer.Option("--temperature", "-t", min=0.0, max=5.0, help="Sampling temperature.", show_default=False)]
Seed = Annotated[int | None, typer.Option("--seed", help="Random seed, for reproducible samples.", show_default=False)]
PromptStyleOpt = Annotated[PromptStyle | None, typer.Option("--prompt-style", help="direct (just answer), steps (reason step by step) or program (write the arithmetic; think computes it). Default: chosen per model.", show_default=False)]
StrategyOpt = Annotated[Strategy | None, typer.Option("--strategy", help="Strategy to run (overrides the effort preset's).", show_default=False)]
Confidence = Annotated[float | None, typer.Option("--confidence", min=0.5, max=1.0, help="vote/auto stop once the leading answer's posterior probability of being the majority reaches this; 1 turns early stops off except the lossless one \\[default: 0.95; 0.8 for small local models].", show_default=False)]
Judge = Annotated[bool, typer.Option("--judge", help="Score candidates with the answering model as judge (best-of-n, refine, beam, mcts).")]
JudgeModel = Annotated[str | None, typer.Option("--judge-model", metavar="REF", help="A second model that judges the candidates (implies --judge).", show_default=False)]
Rounds = Annotated[int | None, typer.Option("--rounds", min=0, max=64, help="refine: critique-and-revise rounds \\[default: 2].", show_default=False)]
BeamWidth = Annotated[int | None, typer.Option("--beam-width", min=1, max=64, help="beam: partial solutions kept at each step \\[default: 2].", show_default=False)]
ThinkMin = Annotated[int | None, typer.Option("--think-min", min=0, help="budget: minimum thinking tokens; an earlier stop becomes \"Wait\" \\[default: 0].", show_default=False)]
ThinkMax = Annotated[int | None, typer.Option("--think-max", min=1, help="budget: maximum thinking tokens, then the answer is forced \\[default: 512].", show_default=False)]
Verify = Annotated[str | None, typer.Option("--verify", metavar="CMD", help="Shell command that checks each candidate in a throw-away copy of the project (exit 0 = pass); exit 4 when none passes.", show_default=False)]
VerifyTimeout = Annotated[float | None, typer.Option("--verify-timeout", min=0.1, help="Seconds the --verify command may run before its process group is killed \\[default: 60].", show_default=False)]
Threads = Annotated[int | None, typer.Option("--threads", min=1, help="llama.cpp threads (default: physical cores).", show_default=False)]
BaseUrl = Annotated[str | None, typer.Option("--base-url", metavar="URL", help="OpenAI-compatible server for openai: models, e.g. http://localhost:11434/v1 (also THINK_BASE_URL, OPENAI_BASE_URL).", show_default=False)]
Parallel = Annotated[int | None, typer.Option("--parallel", min=1, max=64, metavar="K", help="Requests sent at once for one question's samples when the server ignores n \\[default: all samples at once; fewer once the server is seen to serve fewer at once, remembered per server].", show_default=False)]
MaxRetries = Annotated[int | None, typer.Option("--max-retries", min=0, max=20, metavar="N", help="Retries of a remote request on 429/5xx/connection errors \\[default: 4].", show_default=False)]

# Many questions at once (think batch, think bench)
Concurrency = Annotated[int | None, typer.Option("--concurrency", "-c", min=1, max=512, metavar="K", help="Questions at once against a remote model \\[default: 16; config key concurrency]. A local model takes one at a time, each question's samples batched.", show_default=False)]
Resume = Annotated[bool, typer.Option("--resume/--overwrite", help="Skip what the output file already holds (the default when it exists), or start it again.")]
BatchMaxCost = Annotated[float | None, typer.Option("--max-cost", min=0.0, metavar="USD", help="Cost budget for the whole run: no question starts that could overspend it.", show_default=False)]
BatchMaxTokens = Annotated[int | None, typer.Option("--max-total-tokens", min=1, metavar="N", help="Token budget (prompt + completion) for the whole run, kept the same way.", show_default=False)]
