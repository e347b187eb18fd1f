"""`think fix [FILES...] --verify CMD`: the code-fix helper behind the pre-commit hook.

Owns the whole fix run: which files and which version of them (staged when
committing, the working tree otherwise), the baseline check, the fix prompt,
drawing and verifying candidates through ``engine.run`` with a sandboxed
``CommandVerifier``, and writing a verified winner back. Only the working tree
is ever written, never the index; a file whose working-tree text differs from
the fixed version gets the fix as a 3-way merge (``git merge-file``), and when
that conflicts nothing at all is written. Writes are atomic and Ctrl-C waits
for them to finish. Exit codes follow pre-commit: 0 nothing to fix, 1 files
modified (or a fix shown), 4 no verified fix.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from thinkcli import patches, prompts
from thinkcli.errors import ExitStatus, ThinkError, UsageError
from thinkcli.files import atomic_write
from thinkcli.inputs import fenced
from thinkcli.verify.sandbox import git, repo_root, truncate

# A merge, rebase or cherry-pick in progress owns the working tree; fixing then is unsafe.
IN_PROGRESS = {
    "MERGE_HEAD": "a merge",
    "rebase-merge": "a rebase",
    "rebase-apply": "a rebase or `git am`",
    "CHERRY_PICK_HEAD": "a cherry-pick",
    "REVERT_HEAD": "a revert",
}
FAILURE_HEAD = 800  # characters of the failure shown to the model from the start...
FAILURE_TAIL = 2400  # ...and from the end, where pytest puts the assertion


@dataclass
class FixOptions:
    files: list[str]
    verify: str
    dry_run: bool = False
    patch_file: str | None = None
    settings: dict = field(default_factory=dict)  # effective settings (config.load())
    ask: dict = field(default_factory=dict)  # ask options for build_request (model, effort, samples, verify_env, ...)


@dataclass
class Target:
    path: str  # relative to the project root, '/'-separated
    text: str  # the version being fixed (staged or working tree)


def fix_plan(effort: str, strategy: str | None, samples: int | None) -> tuple[str, int]:
    """Strategy and samples of a fix: best-of-n (it stops at the first pass) with the
    preset's sample count unless the user named them.

    >>> fix_plan("low", None, None), fix_plan("medium", None, 3), fix_plan("high", "refine", None)
    (('best-of-n', 1), ('best-of-n', 3), ('refine', 16))
    """
    from thinkcli.strategies import EFFORTS

    preset = EFFORTS.get(effort) or EFFORTS["low"]
    return strategy or "best-of-n", samples or int(preset.get("samples", 1))


def refuse_if_busy(root: Path) -> None:
    """UsageError during a merge, rebase, cherry-pick or revert."""
    for name, what in IN_PROGRESS.items():
        path = git(["rev-parse", "--git-path", name], root).stdout.decode().strip()
        if (root / path).exists():
            raise UsageError(
                f"{what} is in progress ({path}); finish or abort it before `think fix` "
                "(under pre-commit, skip the hook with SKIP=think-fix)"
            )


def project_path(name: str, root: Path, cwd: Path) -> str:
    full = (cwd / name).resolve() if not Path(name).is_absolute() else Path(name).resolve()
    try:
        rel = full.relative_to(root)
    except ValueError:
        raise UsageError(f"{name} is outside the project at {root}") from None
    return rel.as_posix()


def changed_files(root: Path) -> list[str]:
    """Files with staged or unstaged changes (what `think fix` with no FILES looks at)."""
    names: set[str] = set()
    for args in (["diff", "--name-only", "-z", "--cached", "--diff-filter=d"], ["diff", "--name-only", "-z", "--diff-filter=d"]):
        out = git(args, root, check=False)
        if out.returncode == 0:
            names.update(n for n in out.stdout.decode("utf-8", "surrogateescape").split("\0") if n)
    return sorted(n for n in names if (root / n).is_file())


def read_targets(names: list[str], root: Path, in_git: bool, staged_mode: bool) -> list[Target]:
    """Each file's text: the index version when committing (``staged_mode``) or when the
    file is staged, the working-tree version otherwise."""
    staged_paths: set[str] = set()
    if in_git:
        out = git(["diff", "--cached", "--name-only", "-z"], root, check=False)
        staged_paths = set(out.stdout.decode("utf-8", "surrogateescape").split("\0")) if out.returncode == 0 else set()
    targets = []
    for path in dict.fromkeys(names):
        data: bytes | None = None
        if in_git and (staged_mode or path in staged_paths):
            blob = git(["cat-file", "blob", f":{path}"], root, check=False)
            if blob.returncode == 0:
                data = blob.stdout
        if data is None:
            full = root / path
            if full.is_dir():
                raise UsageError(f"{path} is a directory; name files")
            try:
                data = full.read_bytes()
            except FileNotFoundError:
                raise UsageError(f"no such file: {path}") from None
        if b"\0" in data:
            raise UsageError(f"{path} is binary; think fix edits text files")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise UsageError(f"{path} is not UTF-8 text") from None
        targets.append(Target(path, text))
    return targets


def staged_overlays(root: Path) -> dict[str, bytes]:
    """The index version of every tracked file with unstaged changes: what the sandbox
    holds when committing, as pre-commit's stash of unstaged changes would leave it."""
    out = git(["diff", "--name-only", "-z"], root, check=False)
    overlays = {}
    for name in out.stdout.decode("utf-8", "surrogateescape").split("\0") if out.returncode == 0 else []:
        blob = git(["cat-file", "blob", f":{name}"], root, check=False) if name else None
        if blob is not None and blob.returncode == 0:
            overlays[name] = blob.stdout
    return overlays


def fix_prompt(targets: list[Target], command: str, failure: str) -> str:
    blocks = "\n\n".join(fenced(t.path, t.text) for t in targets)
    return prompts.render(
        "fix",
        command=command,
        files=blocks,
        failure=truncate(failure.encode("utf-8"), FAILURE_HEAD, FAILURE_TAIL).strip(),
        example=targets[0].path,
    ).strip()


def run_fix(opts: FixOptions, *, backend=None, sink=None, cwd: Path | None = None,
            stdout: TextIO | None = None, stderr: TextIO | None = None) -> ExitStatus:
    """The whole `think fix` run; returns the exit status. ``backend`` replaces the model
    (tests pass the scripted one); ``sink`` gets the run's events."""
    from thinkcli import engine
    from thinkcli.events import NullSink
    from thinkcli.request import build_request
    from thinkcli.verify.command import CommandVerifier

    out, err = stdout or sys.stdout, stderr or sys.stderr
    cwd = Path(cwd or os.getcwd()).resolve()
    if not opts.verify.strip():
        raise UsageError('think fix needs --verify CMD, e.g. --verify "python -m pytest -q"')
    request = build_request("", settings=opts.settings, system=prompts.load("fix_system").strip(),
                            verify=opts.verify, **opts.ask)  # bad options fail before any work
    request.strategy, request.samples = fix_plan(request.effort, request.strategy, request.samples)
    root_or_none = repo_root(cwd)
    in_git = root_or_none is not None
    root = root_or_none or cwd
    if in_git:
        refuse_if_busy(root)
    names = [project_path(n, root, cwd) for n in opts.files]
    if not names:
        if not in_git:
            raise UsageError("no files to fix; name them: think fix FILE... --verify CMD")
        names = changed_files(root)
        if not names:
            raise UsageError("no changed files to fix; name them: think fix FILE... --verify CMD")
    staged_mode = in_git and os.environ.get("PRE_COMMIT") == "1"
    targets = read_targets(names, root, in_git, staged_mode)
    patch_path = patch_destination(opts.patch_file, cwd, root, in_git, targets) if opts.patch_file else None
    providers = opts.settings.get("providers") or {}
    secrets = [p["api_key_env"] for p in providers.values() if isinstance(p, dict) and p.get("api_key_env")]
    overlays = staged_overlays(root) if staged_mode else {}
    overlays.update({t.path: t.text.encode("utf-8") for t in targets})
    verifier = CommandVerifier(
        opts.verify, request.verify_timeout, cwd=cwd, overlays=overlays,
        allowed=[t.path for t in targets], extra_secrets=secrets,
        default_path=targets[0].path if len(targets) == 1 else None, keep_env=request.verify_env,
    )

    baseline = verifier.check()
    if baseline.passed:
        print(f"think fix: `{opts.verify}` passes; nothing to fix", file=err)
        return ExitStatus.SUCCESS
    print(f"think fix: `{opts.verify}` fails ({baseline.detail}); looking for a fix to "
          f"{', '.join(t.path for t in targets)}", file=err, flush=True)

    request.prompt = fix_prompt(targets, opts.verify, baseline.output)
    result = engine.run(request, sink or NullSink(), backend=backend, verifier=verifier)
    if result.interrupted:
        print("think fix: interrupted; nothing was written", file=err)
        return ExitStatus.INTERRUPTED
    passing = [c for c in result.candidates if c.verdict is not None and c.verdict.passed]
    if not passing:
        print(no_fix_report(opts.verify, baseline, result.candidates), file=err)
        return ExitStatus.NO_PASS
    winner = next((c for c in passing if c.sample == result.chosen), passing[0])
    new: patches.Changes = winner.verdict.extra["files"]
    old = {t.path: t.text for t in targets}
    diff = patches.unified_diff(old, new)
    out.write(diff)
    out.flush()
    which = f"candidate #{winner.sample + 1} of {len(result.candidates)}, {winner.verdict.detail}"
    if patch_path is not None:
        atomic_write(patch_path, diff.encode("utf-8"))
        print(f"think fix: verified fix ({which}) written to {opts.patch_file}; "
              f"apply it with `git apply {opts.patch_file}` from {root}", file=err)
        return ExitStatus.ERROR
    if opts.dry_run:
        print(f"think fix: verified fix ({which}); --dry-run, so no file was changed", file=err)
        return ExitStatus.ERROR
    try:
        write_back(root, old, new)
    except MergeConflict as exc:
        print(f"think fix: verified fix ({which}) not written: {exc}; the diff above is the fix", file=err)
        return ExitStatus.ERROR
    print(f"think fix: verified fix ({which}) written to {', '.join(sorted(new))}; "
          "review it and `git add` it (the index was not touched)", file=err)
    return ExitStatus.ERROR  # pre-commit's "files were modified": the commit stops for review


def patch_destination(name: str, cwd: Path, root: Path, in_git: bool, targets: list[Target]) -> Path:
    """Where ``--patch FILE`` may write, as a real path; UsageError for anything whose loss
    would hurt: a file being fixed (its edits would be gone), anything inside .git (the index,
    refs), a directory, or a special file. Checked before the model runs."""
    full = Path(os.path.realpath(cwd / name))  # links resolved: the check is on what gets replaced
    if full.is_dir():
        raise UsageError(f"--patch {name} is a directory; name a file such as fix.patch")
    if full.exists() and not full.is_file():
        raise UsageError(f"--patch {name} is not a regular file; name a file such as fix.patch")
    if full in {Path(os.path.realpath(root / t.path)) for t in targets}:
        raise UsageError(f"--patch {name} is one of the files being fixed; name another file such as fix.patch")
    if in_git and full.exists() and _inside(root, full):
        tracked = git(["ls-files", "--error-unmatch", "--", os.path.relpath(full, os.path.realpath(root))], root,
                      check=False)
        if tracked.returncode == 0:  # a project file, not a patch: its content (and edits) would be gone
            raise UsageError(f"--patch {name} is a file git tracks; name a new file such as fix.patch")
    if in_git:
        for what in ("--git-dir", "--git-common-dir"):
            out = git(["rev-parse", what], root, check=False).stdout.decode("utf-8", "surrogateescape").strip()
            gitdir = os.path.realpath(root / out) if out else None
            if gitdir and os.path.commonpath([gitdir, str(full)]) == gitdir:
                raise UsageError(f"--patch {name} is inside the repository's .git; name a file such as fix.patch")
    if any(part == ".git" for part in full.parts):
        raise UsageError(f"--patch {name} is inside a .git directory; name a file such as fix.patch")
    return full


def _inside(root: Path, path: Path) -> bool:
    real = os.path.realpath(root)
    return os.path.commonpath([real, str(path)]) == real


def no_fix_report(command: str, baseline, candidates) -> str:
    lines = [f"think fix: no verified fix among {len(candidates)} candidate(s); nothing was changed."]
    for c in candidates:
        detail = c.verdict.detail if c.verdict is not None else "not verified"
        lines.append(f"  #{c.sample + 1}: {detail}")
    lines.append(f"`{command}` fails with:")
    lines.append(truncate(baseline.output.encode("utf-8"), 1500, 2500).rstrip())
    return "\n".join(lines)


class MergeConflict(ThinkError):
    pass


def write_back(root: Path, old: dict[str, str], new: patches.Changes) -> None:
    """Write the fixed files into the working tree, all or none. A file whose working-tree
    text is not the text that was fixed (unstaged hunks, edits during the run) gets the
    fix as a 3-way merge; a conflict anywhere means nothing is written."""
    final: dict[str, bytes | None] = {}
    for path, fixed in new.items():
        full = root / path
        current = full.read_bytes() if full.is_file() else None
        base = old.get(path)
        base_bytes = base.encode("utf-8") if base is not None else None
        if current == base_bytes:
            final[path] = fixed.encode("utf-8") if fixed is not None else None
        elif fixed is None or current is None:
            raise MergeConflict(f"{path} changed in the working tree while the fix was made")
        else:
            final[path] = merge3(path, current, base_bytes or b"", fixed.encode("utf-8"))
    # Ctrl-C waits until every file is written: a half-applied fix is worse than none.
    blocked = hasattr(signal, "pthread_sigmask")
    if blocked:
        old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        for path, data in final.items():
            if data is None:
                (root / path).unlink(missing_ok=True)
            else:
                atomic_write(root / path, data)
    finally:
        if blocked:
            signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)


def merge3(path: str, current: bytes, base: bytes, fixed: bytes) -> bytes:
    """``git merge-file``: the fix applied on top of the working tree's own edits."""
    with tempfile.TemporaryDirectory(prefix="think-merge-") as tmp:
        files = []
        for name, data in (("current", current), ("base", base), ("fixed", fixed)):
            p = Path(tmp) / name
            p.write_bytes(data)
            files.append(str(p))
        proc = subprocess.run(["git", "merge-file", "-p", *files], capture_output=True)
    if proc.returncode != 0:
        raise MergeConflict(f"{path} has unstaged edits that overlap the fix")
    return proc.stdout


