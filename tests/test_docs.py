"""Shell completions and the man page are generated from the Typer app and kept fresh."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT


def test_generated_files_are_fresh():
    proc = subprocess.run([sys.executable, "scripts/gen_docs.py", "--check"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_every_option_of_ask_is_in_every_completion_and_the_man_page():
    sys.path.insert(0, str(ROOT / "scripts"))
    import gen_docs

    root = gen_docs.tree()
    texts = {rel: (ROOT / rel).read_text() for rel in gen_docs.OUTPUTS}
    for opt in root.options:
        long = next(n for n in opt.names if n.startswith("--"))
        for rel, text in texts.items():
            needle = long.replace("-", "\\-") if rel.startswith("man/") else (long[2:] if rel.endswith(".fish") else long)
            assert needle in text, (long, rel)


@pytest.mark.skipif(shutil.which("man") is None, reason="man is not installed")
def test_man_page_renders_without_warnings():
    proc = subprocess.run(
        ["man", "--warnings", "-l", str(ROOT / "man/think.1")],
        capture_output=True, text=True, env={"MANWIDTH": "80", "PATH": "/usr/bin:/bin", "MAN_KEEP_FORMATTING": "0"},
    )
    assert proc.returncode == 0, proc.stderr
    page = re.sub(".\x08", "", proc.stdout)  # drop overstrike bold/underline
    assert "think [OPTIONS] [PROMPT...]" in page
    assert "EXIT STATUS" in page
    assert proc.stderr.strip() == ""


def _bash_complete(*words: str) -> list[str]:
    script = (
        f"source {ROOT / 'completions/think.bash'}; "
        f"COMP_WORDS=({' '.join(repr(w) for w in words)}); COMP_CWORD={len(words) - 1}; _think; "
        'printf "%s\\n" "${COMPREPLY[@]}"'
    )
    proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


def test_bash_completes_options_choices_and_subcommands():
    assert "--effort" in _bash_complete("think", "--eff")
    assert _bash_complete("think", "--effort", "") == ["low", "medium", "high", "auto"]
    assert set(_bash_complete("think", "config", "")) >= {"get", "set", "unset", "path"}
    assert "models" in _bash_complete("think", "mo")


@pytest.mark.parametrize("shell,flag,rel", [("zsh", "-n", "completions/_think"), ("fish", "--no-execute", "completions/think.fish")])
def test_other_shells_parse_their_scripts(shell, flag, rel):
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed")
    proc = subprocess.run([shell, flag, str(ROOT / rel)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")
def test_fish_completes_choices_and_subcommands():
    def complete(line: str) -> set[str]:
        proc = subprocess.run(
            ["fish", "-c", f"source {ROOT / 'completions/think.fish'}; complete -C '{line}'"],
            capture_output=True, text=True,
        )
        return {row.split("\t")[0] for row in proc.stdout.splitlines()}

    assert complete("think --effort ") == {"low", "medium", "high", "auto"}
    assert complete("think config ") == {"get", "set", "unset", "path"}


def test_every_module_with_a_docstring_example_is_collected_as_a_doctest():
    """pytest --doctest-modules (pyproject) runs the examples of the whole package; no list is kept by hand."""
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "thinkcli"],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    collected = {line.split("::")[0] for line in proc.stdout.splitlines() if "::" in line}
    with_examples = {str(p.relative_to(ROOT)) for p in (ROOT / "thinkcli").rglob("*.py") if ">>> " in p.read_text()}
    assert with_examples and with_examples <= collected, sorted(with_examples - collected)
