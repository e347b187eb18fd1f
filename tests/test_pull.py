"""`think models pull/rm/list` against tests/hubserver.py, a loopback Hub serving the embedded GGUF."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import run_think
from tests.hubserver import COMMIT, HubServer, split_gguf, standard_repos

TOKEN = "hf_TestTokenDoNotPrint123"
CHUNK = 10 * 1024 * 1024  # huggingface_hub's DOWNLOAD_CHUNK_SIZE: what a cut may cost again


@pytest.fixture(scope="module")
def server(embedded_model, tmp_path_factory):
    split = split_gguf(embedded_model, tmp_path_factory.mktemp("split"))
    srv = HubServer(standard_repos(embedded_model, split), token=TOKEN)
    yield srv
    srv.close()


@pytest.fixture
def hub(server, tmp_path, monkeypatch):
    """The fake Hub, reset, with HF_ENDPOINT pointing at it and an empty HF_HOME."""
    server.cut.clear()
    server.down = server.down_after_cut = False
    server.throttle = 0.0
    server.served.clear()
    server.requests.clear()
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE", "HF_HUB_CACHE", "HF_TOKEN_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    return server


def repo_dir(name: str) -> Path:
    return Path(os.environ["HF_HOME"]) / "hub" / ("models--" + name.replace("/", "--"))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def models_json() -> list[dict]:
    out = run_think("models", "--json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_pull_picks_closest_quant_into_the_hf_cache_and_second_pull_is_a_noop(hub, embedded_model):
    out = run_think("models", "pull", "hf.co/test/smol-GGUF", "--alias", "smol")
    assert out.returncode == 0, out.stderr
    # no Q4_K_M there: Q4_1 (5.0 bits/weight) is closer to it than Q8_0
    assert out.stdout.decode().strip() == "hf.co/test/smol-GGUF:Q4_1"
    err = out.stderr.decode()
    assert "sha256 ok" in err and "98 MB fetched" in err
    pointer = repo_dir("test/smol-GGUF") / "snapshots" / COMMIT / "smol-Q4_1.gguf"
    assert pointer.is_symlink() and pointer.resolve().parent.name == "blobs"
    assert pointer.resolve().name == sha256(embedded_model) == sha256(pointer)
    assert (repo_dir("test/smol-GGUF") / "refs" / "main").read_text() == COMMIT
    assert not list(repo_dir("test/smol-GGUF").rglob("*.incomplete"))
    # huggingface_hub finds the file think pulled (llama.cpp's -hf reads the same layout)
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache("test/smol-GGUF", "smol-Q4_1.gguf", cache_dir=str(Path(os.environ["HF_HOME"]) / "hub"))
    assert found == str(pointer)
    row = next(r for r in models_json() if r["kind"] == "hf")
    assert (row["name"], row["quant"], row["source"], row["aliases"]) == ("hf.co/test/smol-GGUF:Q4_1", "Q4_1", "hf.co", ["smol"])
    table = run_think("models").stdout.decode()
    assert "hf.co/test/smol-GGUF:Q4_1" in table and "smol" in table and "CALIBRATED" in table

    served = dict(hub.served)
    again = run_think("models", "pull", "hf.co/test/smol-GGUF:Q4_1")
    assert again.returncode == 0, again.stderr
    assert "nothing fetched" in again.stderr.decode()
    assert hub.served == served  # not one byte more


def test_split_model_pulls_every_part_and_loads_from_the_first(hub):
    out = run_think("models", "pull", "hf.co/test/split-GGUF:Q4_1")
    assert out.returncode == 0, out.stderr
    snap = repo_dir("test/split-GGUF") / "snapshots" / COMMIT
    parts = sorted(p.name for p in snap.iterdir())
    assert parts == [f"smol-Q4_1-0000{i}-of-00003.gguf" for i in (1, 2, 3)]
    assert out.stderr.decode().count("sha256 ok") == 3
    from thinkcli.backends.models import resolve

    assert resolve("hf.co/test/split-GGUF").path == snap / parts[0]  # parts are found beside it by name
    row = next(r for r in models_json() if r["kind"] == "hf")
    assert row["parts"] == 3 and row["path"].endswith("-00001-of-00003.gguf")


@pytest.mark.model
def test_split_model_answers_loaded_from_its_first_part(hub):
    assert run_think("models", "pull", "hf.co/test/split-GGUF").returncode == 0
    out = run_think("-m", "hf.co/test/split-GGUF", "-n", "1", "--max-tokens", "16", "--json", "What is 2+2?")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["answer"].strip()


def test_cut_download_resumes_with_a_range_request_and_refetches_under_one_chunk(hub, embedded_model):
    size = embedded_model.stat().st_size
    key = hub.key_of("test/smol-GGUF", "smol-Q4_1.gguf")
    hub.cut[key] = size // 2
    hub.down_after_cut = True  # the connection drops and the Hub stays away: this run fails
    out = run_think("models", "pull", "hf.co/test/smol-GGUF")
    assert out.returncode == 1
    err = out.stderr.decode().strip().splitlines()
    assert err[-1].startswith("think: error: download of smol-Q4_1.gguf stopped at")
    assert "run `think models pull hf.co/test/smol-GGUF` to resume" in err[-1]
    partial = repo_dir("test/smol-GGUF") / "blobs" / f"{key}.incomplete"
    kept = partial.stat().st_size
    assert 0 < kept <= size // 2
    assert not (repo_dir("test/smol-GGUF") / "snapshots").exists()  # a half file is never a model
    assert not [r for r in models_json() if r["kind"] == "hf"]
    missing = run_think("-m", "hf.co/test/smol-GGUF", "hi")
    assert missing.returncode == 3
    assert "run `think models pull hf.co/test/smol-GGUF`" in missing.stderr.decode()

    hub.down = False
    out = run_think("models", "pull", "hf.co/test/smol-GGUF")
    assert out.returncode == 0, out.stderr
    assert "resumed at" in out.stderr.decode()
    last = [r for r in hub.requests if r["server"] == "cdn" and r["method"] == "GET"][-1]
    assert last["headers"].get("Range") == f"bytes={kept}-"
    refetched = hub.served[key] - size
    assert 0 <= refetched <= CHUNK
    assert sha256(repo_dir("test/smol-GGUF") / "snapshots" / COMMIT / "smol-Q4_1.gguf") == sha256(embedded_model)


def test_ctrl_c_keeps_the_partial_file_and_the_next_pull_continues_it(hub, embedded_model):
    import signal
    import time

    size = embedded_model.stat().st_size
    key = hub.key_of("test/smol-GGUF", "smol-Q4_1.gguf")
    hub.throttle = 0.02  # about 13 MB/s: time to press Ctrl-C
    proc = subprocess.Popen([sys.executable, "-m", "thinkcli", "models", "pull", "hf.co/test/smol-GGUF"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    blobs = repo_dir("test/smol-GGUF") / "blobs"
    deadline = time.monotonic() + 120
    while hub.served.get(key, 0) < 3 * CHUNK and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "run `think models pull hf.co/test/smol-GGUF` to resume" in err.decode()
    kept = (blobs / f"{key}.incomplete").stat().st_size
    assert 0 < kept < size and not (repo_dir("test/smol-GGUF") / "snapshots").exists()

    hub.throttle = 0.0
    out = run_think("models", "pull", "hf.co/test/smol-GGUF")
    assert out.returncode == 0, out.stderr
    assert [r for r in hub.requests if r["server"] == "cdn"][-1]["headers"].get("Range") == f"bytes={kept}-"
    assert hub.served[key] - size <= CHUNK


def test_checksum_mismatch_discards_the_download(hub):
    out = run_think("models", "pull", "hf.co/test/corrupt-GGUF")
    assert out.returncode == 1
    line = out.stderr.decode().strip().splitlines()[-1]
    assert line.startswith("think: error: checksum mismatch for smol-Q4_1.gguf")
    assert not [p for p in repo_dir("test/corrupt-GGUF").rglob("*") if p.is_file()]  # no blob, no partial


@pytest.mark.parametrize("ref, status, words", [
    ("hf.co/test/smol-GGUF:Q5_K_M", 3, ["no Q5_K_M in hf.co/test/smol-GGUF", "it has Q4_1, Q8_0",
                                      "think models pull hf.co/test/smol-GGUF:Q4_1"]),
    ("hf.co/test/nothing-here", 3, ["no model repo hf.co/test/nothing-here", "HF_TOKEN"]),
    ("hf.co/test/no-gguf", 3, ["hf.co/test/no-gguf has no .gguf files"]),
    ("hf.co/not a repo", 2, ["is not hf.co/USER/REPO[:QUANT]"]),
    ("ftp://x/y.gguf", 2, ["cannot pull"]),
])
def test_pull_errors_are_one_line_with_the_fix(hub, ref, status, words):
    out = run_think("models", "pull", ref)
    assert out.returncode == status
    lines = out.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("think: error: ")
    for word in words:
        assert word in lines[0]


def _auth_seen(hub, server: str) -> list[str]:
    return [r["headers"].get("Authorization", "") for r in hub.requests if r["server"] == server]


def test_gated_repo_needs_the_token_which_reaches_only_the_hub(hub, isolated_config):
    out = run_think("models", "pull", "hf.co/test/gated-GGUF")
    assert out.returncode == 3
    assert "hf.co/test/gated-GGUF is gated" in out.stderr.decode() and "HF_TOKEN" in out.stderr.decode()

    hub.requests.clear()
    out = run_think("models", "pull", "hf.co/test/gated-GGUF", env={"HF_TOKEN": TOKEN})
    assert out.returncode == 0, out.stderr
    assert f"Bearer {TOKEN}" in _auth_seen(hub, "hub")
    assert not any(_auth_seen(hub, "cdn"))  # the CDN it redirects to never sees it
    assert TOKEN not in (out.stdout + out.stderr).decode()
    assert TOKEN not in (isolated_config / "config.toml").read_text() if (isolated_config / "config.toml").exists() else True


def test_stored_huggingface_key_is_used_only_for_its_endpoint(hub):
    stored = run_think("keys", "set", "huggingface", input=TOKEN + "\n")
    assert stored.returncode == 0, stored.stderr
    assert TOKEN not in (stored.stdout + stored.stderr).decode()
    hub.requests.clear()
    out = run_think("models", "pull", "hf.co/test/gated-GGUF")
    assert out.returncode == 0, out.stderr
    assert f"Bearer {TOKEN}" in _auth_seen(hub, "hub") and not any(_auth_seen(hub, "cdn"))
    # the same key is not sent to another endpoint (a mirror on another port)
    other = HubServer(hub.repos, token=TOKEN)
    try:
        out = run_think("models", "pull", "hf.co/test/gated-GGUF:Q4_1", env={"HF_ENDPOINT": other.url,
                                                                             "HF_HOME": os.environ["HF_HOME"] + "2"})
        assert out.returncode == 3 and "is gated" in out.stderr.decode()
        assert not any(_auth_seen(other, "hub")) and not any(_auth_seen(other, "cdn"))
    finally:
        other.close()


def test_offline_uses_the_cache_or_says_the_file_is_not_there(hub):
    out = run_think("models", "pull", "hf.co/test/smol-GGUF", env={"HF_HUB_OFFLINE": "1"})
    assert out.returncode == 3
    line = out.stderr.decode().strip()
    assert line.startswith("think: error: offline (HF_HUB_OFFLINE=1) and hf.co/test/smol-GGUF is not in the cache")
    assert not hub.requests  # offline means no request at all
    closed = run_think("models", "pull", "hf.co/test/smol-GGUF", env={"HF_ENDPOINT": "http://127.0.0.1:9"})
    assert closed.returncode == 3
    assert "cannot reach http://127.0.0.1:9" in closed.stderr.decode() and "not in the cache" in closed.stderr.decode()

    assert run_think("models", "pull", "hf.co/test/smol-GGUF").returncode == 0
    hub.requests.clear()
    out = run_think("models", "pull", "hf.co/test/smol-GGUF", env={"HF_HUB_OFFLINE": "1"})
    assert out.returncode == 0 and "offline: not checked" in out.stderr.decode()
    closed = run_think("models", "pull", "hf.co/test/smol-GGUF", env={"HF_ENDPOINT": "http://127.0.0.1:9"})
    assert closed.returncode == 0 and "cached copy" in closed.stderr.decode()
    assert not hub.requests


def test_direct_url_goes_to_the_data_dir_without_the_token(hub, embedded_model):
    url = f"{hub.cdn_url}/files/smol-Q4_1.gguf"
    out = run_think("models", "pull", url, "--alias", "direct", env={"HF_TOKEN": TOKEN})
    assert out.returncode == 0, out.stderr
    dest = Path(os.environ["THINK_MODELS_DIR"]) / "smol-Q4_1.gguf"
    assert sha256(dest) == sha256(embedded_model)
    assert "sha256 ok" in out.stderr.decode()  # the server's ETag is a sha256: checked
    assert not any(_auth_seen(hub, "cdn"))  # not the Hub's host: no token
    row = next(r for r in models_json() if r["kind"] == "url")
    assert row["source"] == url and row["aliases"] == ["direct"]
    from thinkcli.backends.models import resolve

    assert resolve(url).path == dest.resolve()
    assert run_think("models", "rm", "direct").returncode == 0
    assert not dest.exists() and not [r for r in models_json() if r["kind"] == "url"]


def test_a_file_url_on_the_hub_gets_the_token_and_its_cdn_does_not(hub):
    url = f"{hub.url}/test/gated-GGUF/resolve/main/smol-Q4_1.gguf"
    out = run_think("models", "pull", url, env={"HF_TOKEN": TOKEN})
    assert out.returncode == 0, out.stderr
    assert f"Bearer {TOKEN}" in _auth_seen(hub, "hub") and not any(_auth_seen(hub, "cdn"))
    assert (Path(os.environ["THINK_MODELS_DIR"]) / "smol-Q4_1.gguf").is_file()


def test_rm_deletes_files_and_aliases(hub, isolated_config):
    assert run_think("models", "pull", "hf.co/test/smol-GGUF", "--alias", "smol").returncode == 0
    blob = (repo_dir("test/smol-GGUF") / "snapshots" / COMMIT / "smol-Q4_1.gguf").resolve()
    out = run_think("models", "rm", "smol")
    assert out.returncode == 0, out.stderr
    assert "removed hf.co/test/smol-GGUF:Q4_1" in out.stderr.decode()
    assert not blob.exists() and not repo_dir("test/smol-GGUF").exists()
    assert "smol" not in (isolated_config / "config.toml").read_text()
    assert [r["kind"] for r in models_json()] == ["embedded"]
    gone = run_think("models", "rm", "smol")
    assert gone.returncode == 1 and "no pulled model named 'smol'" in gone.stderr.decode()


def test_first_use_without_a_terminal_names_the_pull_command(hub):
    for env in ({}, {"PRE_COMMIT": "1"}):
        out = run_think("-m", "hf.co/test/smol-GGUF:Q4_1", "hi", env=env)
        assert out.returncode == 3
        assert out.stderr.decode().strip() == (
            "think: error: model hf.co/test/smol-GGUF:Q4_1 is not pulled yet; "
            "run `think models pull hf.co/test/smol-GGUF:Q4_1`")
    assert not hub.requests  # nothing was fetched without asking


def test_disk_full_leaves_no_model(hub, tmp_path, monkeypatch):
    """A 40 MB tmpfs as HF_HOME: refused up front; and when the check is passed, ENOSPC mid-write."""
    small = tmp_path / "small"
    small.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=40m", "tmpfs", str(small)], capture_output=True).returncode:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        monkeypatch.setenv("HF_HOME", str(small))
        out = run_think("models", "pull", "hf.co/test/smol-GGUF")
        assert out.returncode == 1
        assert "not enough disk space" in out.stderr.decode()
        assert not [p for p in small.rglob("*") if p.is_file() and "blobs" in p.parts]

        from thinkcli import hub_pull, hub_transfer

        monkeypatch.setattr(hub_transfer, "need_space", lambda *a: None)  # as if another writer took the room
        with pytest.raises(hub_transfer.DiskFull, match="disk full in .* the partial file is kept"):
            hub_pull.pull("hf.co/test/smol-GGUF")
        assert not (repo_dir("test/smol-GGUF") / "snapshots").exists()
        assert [p.name for p in (repo_dir("test/smol-GGUF") / "blobs").iterdir()][0].endswith(".incomplete")
    finally:
        subprocess.run(["umount", str(small)], check=False)


def _ask_in_pty(args: list[str], answer: bytes, timeout: float = 600) -> tuple[int, str, bytes]:
    """Run think with stdin and stderr on a terminal; answer the pull question; return status,
    terminal text, stdout."""
    import pty
    import select
    import time

    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "thinkcli", *args], stdin=slave, stdout=subprocess.PIPE,
                            stderr=slave, env=dict(os.environ))
    os.close(slave)
    seen, answered = b"", False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:
                break
            if not data:
                break
            seen += data
            if not answered and b"[Y/n]" in seen:
                os.write(master, answer)
                answered = True
        elif proc.poll() is not None:
            break
    out = proc.stdout.read()
    status = proc.wait(timeout=30)
    os.close(master)
    return status, seen.decode(errors="replace"), out


def test_first_use_on_a_terminal_asks_and_no_means_no(hub):
    status, screen, _ = _ask_in_pty(["-m", "hf.co/test/smol-GGUF", "hi"], b"n\n")
    assert status == 3
    assert "hf.co/test/smol-GGUF is not on this machine yet. Pull it now? [Y/n]" in screen
    assert "run `think models pull hf.co/test/smol-GGUF`" in screen
    assert not hub.served


@pytest.mark.model
def test_first_use_pull_after_yes_then_the_alias_answers(hub):
    status, screen, out = _ask_in_pty(["-m", "hf.co/test/smol-GGUF", "-n", "1", "--max-tokens", "16",
                                       "What is 2+2?"], b"y\n")
    assert status == 0, screen
    assert "sha256 ok" in screen and out.decode().strip()
    # a pulled model is used by its alias like any other model
    assert run_think("models", "pull", "hf.co/test/smol-GGUF", "--alias", "smol").returncode == 0
    answer = run_think("-m", "smol", "-n", "1", "--max-tokens", "16", "--json", "What is 2+2?")
    assert answer.returncode == 0, answer.stderr
    doc = json.loads(answer.stdout)
    assert doc["answer"].strip() and doc["model"] == "hf.co/test/smol-GGUF:Q4_1"


def test_help_and_listing_never_load_the_hub_client():
    code = ("import sys, runpy\n"
            "for argv in (['think', '--help'], ['think', 'models']):\n"
            "    sys.argv = argv\n"
            "    try:\n        runpy.run_module('thinkcli', run_name='__main__')\n"
            "    except SystemExit:\n        pass\n"
            "print(sorted(m for m in ('huggingface_hub', 'httpx2', 'urllib.request') if m in sys.modules), file=sys.stderr)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ))
    assert proc.stderr.strip().splitlines()[-1] == "[]"


def test_models_marks_calibrated_by_the_file_hash(hub):
    pytest.importorskip("thinkcli.profiles")
    assert run_think("models", "pull", "hf.co/test/smol-GGUF").returncode == 0
    assert run_think("models", "pull", "hf.co/test/split-GGUF").returncode == 0
    rows = {r["name"]: r for r in models_json()}
    assert rows["smollm2-135m"]["calibrated"] is True  # the shipped profile
    assert rows["hf.co/test/smol-GGUF:Q4_1"]["calibrated"] is True  # the same bytes, known by the blob's name
    assert rows["hf.co/test/split-GGUF:Q4_1"]["calibrated"] is False
    assert "yes" in run_think("models").stdout.decode()
