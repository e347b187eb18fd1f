"""`think fix` through the real `pre-commit` tool and a real `git commit`.

The hook comes from this repository's .pre-commit-hooks.yaml; the test's config is a
`repo: local` hook with the manifest's fields and `language: system` (the installed
`think`), because `language: python` would have pre-commit build a virtualenv and
install this project and llama.cpp into it, with no network. The model is a scripted
OpenAI-compatible server on 127.0.0.1 (deterministic), and once the embedded model.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import yaml

from tests.faultserver import FaultServer
from tests.test_fix import BUGGY, GOOD, PYTEST, RIGHT, WRONG_1, calc_project, state
from tests.test_sandbox import git
from thinkcli.verify.sandbox import Sandbox

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / ".pre-commit-hooks.yaml"


def hook_config(*extra_args: str) -> str:
    [hook] = yaml.safe_load(MANIFEST.read_text())
    assert hook["id"] == "think-fix" and hook["language"] == "python"
    local = {**hook, "language": "system", "args": ["--verify", PYTEST, *extra_args]}
    return yaml.safe_dump({"repos": [{"repo": "local", "hooks": [local]}]}, sort_keys=False)


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """A repository with the hook installed, a staged bug in calc.py, and other work."""
    root = calc_project(tmp_path / "repo")
    monkeypatch.setenv("PRE_COMMIT_HOME", str(tmp_path / "pre-commit-home"))
    monkeypatch.setenv("PATH", sysconfig.get_path("scripts") + os.pathsep + os.environ["PATH"])
    monkeypatch.delenv("PRE_COMMIT", raising=False)
    monkeypatch.chdir(root)
    return root


def setup_hook(root: Path, *extra_args: str) -> None:
    (root / ".pre-commit-config.yaml").write_text(hook_config(*extra_args))
    git(root, "add", ".")
    git(root, "commit", "-qm", "init", "--no-verify")
    subprocess.run([sys.executable, "-m", "pre_commit", "install"], cwd=root, check=True, capture_output=True)
    # the work in progress: a staged bug, a staged change elsewhere with unstaged edits on top
    (root / "calc.py").write_text(BUGGY)
    (root / "other.py").write_text("X = 2  # staged\n")
    git(root, "add", "calc.py", "other.py")
    (root / "other.py").write_text("X = 3  # unstaged on top\n")
    (root / "notes.md").write_text("# notes\nunstaged work\n")


def commit(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "commit", "-m", "work"], cwd=root, capture_output=True, text=True, timeout=600)


def test_manifest_is_valid_for_pre_commit():
    r = subprocess.run([sys.executable, "-m", "pre_commit", "validate-manifest", str(MANIFEST)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    [hook] = yaml.safe_load(MANIFEST.read_text())
    assert {k: hook[k] for k in ("id", "language", "entry", "require_serial", "pass_filenames", "stages")} == {
        "id": "think-fix", "language": "python", "entry": "think fix", "require_serial": True,
        "pass_filenames": True, "stages": ["pre-commit", "manual"]}


def test_commit_passes_when_verify_passes(project):
    setup_hook(project)
    (project / "calc.py").write_text(GOOD)
    git(project, "add", "calc.py")
    r = commit(project)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "think fix" in r.stdout + r.stderr and "Passed" in r.stdout + r.stderr
    assert (project / "other.py").read_text() == "X = 3  # unstaged on top\n"
    assert git(project, "show", "HEAD:other.py") == "X = 2  # staged\n"


def test_hook_writes_the_verified_fix_and_stops_the_commit(project, monkeypatch):
    setup_hook(project, "--model", "openai:scripted", "-n", "2")
    with FaultServer(reply=lambda body, n: [WRONG_1, RIGHT][n]) as server:
        monkeypatch.setenv("THINK_BASE_URL", server.url)
        before = state(project)
        r = commit(project)
        assert server.completions == 2
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    assert "files were modified by this hook" in out and "verified fix (candidate #2 of 2, 2 passed)" in out
    assert git(project, "log", "--oneline").count("\n") == 1  # no new commit
    after = state(project)
    assert {k for k in before if before[k] != after[k]} == {"calc.py"}  # the index and other work as they were
    assert (project / "calc.py").read_text() == GOOD
    # the user reviews, stages, commits: the hook now has nothing to fix
    git(project, "add", "calc.py")
    r = commit(project)
    assert r.returncode == 0, r.stdout + r.stderr
    assert git(project, "show", "HEAD:calc.py") == GOOD
    assert (project / "other.py").read_text() == "X = 3  # unstaged on top\n"
    assert (project / "notes.md").read_text() == "# notes\nunstaged work\n"
    assert Sandbox(project).run(PYTEST, timeout=120).passed


def test_hook_with_no_verified_fix_blocks_the_commit_and_changes_nothing(project, monkeypatch):
    setup_hook(project, "--model", "openai:scripted", "-n", "2")
    with FaultServer(reply=WRONG_1) as server:
        monkeypatch.setenv("THINK_BASE_URL", server.url)
        before = state(project)
        r = commit(project)
    out = r.stdout + r.stderr
    assert r.returncode != 0
    assert "exit code: 4" in out and "no verified fix among 2 candidate(s)" in out
    assert "FAILED tests/test_calc.py::test_add" in out
    assert state(project) == before


@pytest.mark.model
def test_hook_with_the_embedded_model(project, embedded_model):
    """The whole pipeline on the real model: the commit stops either way; whatever the
    model managed is reported, and a written fix really passes."""
    setup_hook(project, "--max-tokens", "96", "-n", "1", "--seed", "3")
    before = state(project)
    r = commit(project)
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    assert "`" + PYTEST + "` fails" in out
    if "exit code: 4" in out:
        assert "no verified fix among 1 candidate(s)" in out
        assert state(project) == before
    else:
        assert "files were modified by this hook" in out
        assert Sandbox(project).run(PYTEST, timeout=120).passed
        after = state(project)
        assert {k for k in before if before[k] != after[k]} == {"calc.py"}


def readme_hook_script() -> str:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("### As a plain git hook"):]
    return section.split("```sh\n", 1)[1].split("```", 1)[0]


def test_the_readmes_plain_git_hook(project, monkeypatch):
    """The README's .git/hooks/pre-commit script, as written, with a scripted model."""
    setup_hook(project)
    hook = project / ".git" / "hooks" / "pre-commit"
    hook.write_text(readme_hook_script())  # replaces the pre-commit tool's hook
    hook.chmod(0o755)
    with FaultServer(reply=lambda body, n: [WRONG_1, RIGHT][n]) as server:
        monkeypatch.setenv("THINK_BASE_URL", server.url)
        monkeypatch.setenv("THINK_MODEL", "openai:scripted")
        monkeypatch.setenv("THINK_SAMPLES", "2")
        before = state(project)
        r = commit(project)
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    assert "verified fix (candidate #2 of 2, 2 passed) written to calc.py" in out
    after = state(project)
    assert {k for k in before if before[k] != after[k]} == {"calc.py"}
    assert (project / "calc.py").read_text() == GOOD
    assert (project / "other.py").read_text() == "X = 3  # unstaged on top\n"
