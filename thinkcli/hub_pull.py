"""`think models pull` and `think models rm`: ask the Hub, fetch what is missing, link it into
the Hugging Face cache layout (``blobs/SHA256``, ``snapshots/COMMIT/FILE``, ``refs/main``);
forget a model again. Hub errors become one line that names the fix.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit

from thinkcli import hub
from thinkcli.errors import ModelUnavailable, ThinkError, UsageError
from thinkcli.hub_transfer import Progress, fetch


@dataclass
class Pulled:
    name: str  # the reference that loads it: hf.co/USER/REPO:QUANT or the URL
    path: Path  # the model file (the first part of a split model)
    quant: str | None
    size: int
    files: list[str] = field(default_factory=list)
    fetched: int = 0  # bytes downloaded by this run
    note: str = ""  # why nothing was checked (offline, Hub unreachable)


def pull(ref: str, progress: Progress | None = None) -> Pulled:
    progress = progress or Progress()
    parsed = hub.parse_hf(ref)
    if parsed is not None:
        return _pull_hf(parsed, progress)
    if ref.startswith(("https://", "http://")):
        return _pull_url(ref, progress)
    raise UsageError(f"cannot pull {ref!r}: give hf.co/USER/REPO[:QUANT] or the https:// URL of a .gguf file")


def _headers(url: str) -> dict:
    from huggingface_hub.utils import build_hf_headers

    token = hub.token_for(url)
    return build_hf_headers(token=token.reveal() if token else False, library_name="thinkcli")


def _hub_error(exc: BaseException, ref: hub.HubRef) -> ThinkError:
    """A huggingface_hub/httpx2 error as one line with the fix."""
    response = getattr(exc, "response", None)
    if response is not None:
        return _status_error(response.status_code, response.headers.get("X-Error-Code"), ref)
    if type(exc).__name__ == "OfflineModeIsEnabled":
        return _offline(ref.text)
    return hub.fail_network(ref.text, exc)


def _status_error(status: int, code: str | None, ref: hub.HubRef) -> ThinkError:
    """What the Hub's answer means for the user (never the token, never a URL that carries one)."""
    if code == "GatedRepo":
        return ModelUnavailable(
            f"hf.co/{ref.repo} is gated: accept its terms at {hub.endpoint()}/{ref.repo}, "
            f"then {hub.TOKEN_HINT} with a token that has access")
    if code == "RepoNotFound" or status in (401, 404):
        return ModelUnavailable(
            f"no model repo hf.co/{ref.repo} on {hub.endpoint()} (or it is private: {hub.TOKEN_HINT}); "
            "check the USER/REPO spelling")
    return ModelUnavailable(f"the Hub answered HTTP {status} for hf.co/{ref.repo}; try again later")


def _offline(what: str) -> ThinkError:
    return ModelUnavailable(
        f"offline (HF_HUB_OFFLINE=1) and {what} is not in the cache ({hub.cache_dir()}); "
        f"unset HF_HUB_OFFLINE and run `think models pull {what}`")


def list_repo(ref: hub.HubRef) -> tuple[str, list[hub.HubFile]]:
    """The repo's main commit and its files with LFS sizes and sha256, from the Hub's model API.

    One JSON GET through the standard library: a pull of a cached model then costs no
    huggingface_hub/httpx2 import (about half a second); the downloads use huggingface_hub.
    """
    import urllib.error
    import urllib.request

    url = f"{hub.endpoint()}/api/models/{quote(ref.repo)}/revision/main?blobs=true"
    token = hub.token_for(url)
    headers = {"User-Agent": "thinkcli", **({"Authorization": f"Bearer {token.reveal()}"} if token else {})}
    opener = urllib.request.build_opener(_same_host_redirects())
    try:
        with opener.open(urllib.request.Request(url, headers=headers), timeout=30) as response:
            info = json.load(response)
    except urllib.error.HTTPError as exc:
        raise _status_error(exc.code, exc.headers.get("X-Error-Code"), ref) from None
    except (OSError, ValueError) as exc:  # URLError, timeouts, refused connections, a body that is not JSON
        raise hub.fail_network(ref.text, getattr(exc, "reason", exc)) from None
    files = []
    for s in info.get("siblings") or []:
        lfs = s.get("lfs") or {}
        files.append(hub.HubFile(s["rfilename"], lfs.get("size", s.get("size")), lfs.get("sha256")))
    return info["sha"], files


def _same_host_redirects():
    """A redirect handler that drops the token when a redirect leaves the Hub's host."""
    import urllib.request

    class Handler(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, req, fp, code, msg, headers, newurl):
            new = super().redirect_request(req, fp, code, msg, headers, newurl)
            if new is not None and urlsplit(newurl).netloc != urlsplit(req.full_url).netloc:
                new.remove_header("Authorization")
            return new

    return Handler()


def _pull_hf(ref: hub.HubRef, progress: Progress) -> Pulled:
    if hub.offline():
        hit = hub.cached_choice(ref)
        if hit is None:
            raise _offline(ref.text)
        return _done(ref, *hit, fetched=0, note="offline: not checked against the Hub")
    try:
        commit, files = list_repo(ref)
    except hub.HubUnreachable:
        hit = hub.cached_choice(ref)
        if hit is None:
            raise
        return _done(ref, *hit, fetched=0, note=f"cannot reach {hub.endpoint()}: the cached copy, not checked")
    choice = hub.choose(hub.group_models(files), ref)
    root = hub.repo_dir(ref.repo)
    snapshot = root / "snapshots" / commit
    fetched = 0
    for f in choice.files:
        pointer = snapshot / f.name
        if pointer.exists() and (f.size is None or pointer.stat().st_size == f.size):
            continue
        fetched += _fetch_blob(ref, commit, f, root, progress)
        _link(pointer, root / "blobs" / _blob_name(f))
    _write(root / "refs" / "main", commit)
    return _done(ref, snapshot, choice, fetched=fetched)


def _blob_name(f: hub.HubFile) -> str:
    return f.sha256 or f"git-{quote(f.name, safe='')}"


def _fetch_blob(ref: hub.HubRef, commit: str, f: hub.HubFile, root: Path, progress: Progress) -> int:
    from filelock import FileLock
    from huggingface_hub.file_download import get_hf_file_metadata, hf_hub_url

    blob = root / "blobs" / _blob_name(f)
    if blob.exists() and (f.size is None or blob.stat().st_size == f.size):
        return 0  # the same bytes under another name or commit: link, do not fetch
    url = hf_hub_url(ref.repo, f.name, revision=commit, endpoint=hub.endpoint())
    try:
        meta = get_hf_file_metadata(url, headers=_headers(url), token=False, endpoint=hub.endpoint())
    except Exception as exc:
        raise _hub_error(exc, ref) from None
    location = meta.location or url
    # the token goes to the Hub's host only, never to the CDN it redirects to
    headers = _headers(location) if urlsplit(location).netloc == urlsplit(url).netloc else {}
    lock = hub.cache_dir() / ".locks" / root.name / f"{_blob_name(f)}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(lock)):  # the lock huggingface_hub takes, so both never write one blob at once
        if blob.exists():
            return 0
        expected = f.sha256 or meta.etag  # the LFS hash; a git file's etag is no sha256 and is not checked
        return fetch(location, blob.with_name(blob.name + ".incomplete"), blob, size=f.size or meta.size,
                     sha256=expected if _is_sha256(expected) else None,
                     headers=headers, label=f.name, again=f"think models pull {ref.text}", progress=progress)


def _is_sha256(text: str | None) -> bool:
    return bool(text) and len(text) == 64 and all(c in "0123456789abcdef" for c in text.lower())


def _link(pointer: Path, blob: Path) -> None:
    """snapshots/COMMIT/FILE -> ../../blobs/SHA, as huggingface_hub lays it out (a copy where links fail)."""
    pointer.parent.mkdir(parents=True, exist_ok=True)
    tmp = pointer.with_name(f".{pointer.name}.link")
    tmp.unlink(missing_ok=True)
    try:
        os.symlink(os.path.relpath(blob, pointer.parent), tmp)
    except OSError:
        shutil.copyfile(blob, tmp)
    os.replace(tmp, pointer)


def _write(path: Path, text: str) -> None:
    from thinkcli.files import atomic_write

    atomic_write(path, text)


def _done(ref: hub.HubRef, snapshot: Path, choice: hub.Choice, *, fetched: int, note: str = "") -> Pulled:
    path = snapshot / choice.files[0].name
    size = sum((snapshot / f.name).stat().st_size for f in choice.files)
    return Pulled(f"hf.co/{ref.repo}:{choice.quant}", path, choice.quant, size,
                  [f.name for f in choice.files], fetched, note)


def _pull_url(url: str, progress: Progress) -> Pulled:
    dest = hub.url_target(url)
    if dest.is_file():
        return Pulled(url, dest, hub.quant_of(dest.name), dest.stat().st_size, [dest.name], 0)
    if hub.offline():
        raise _offline(url)
    from huggingface_hub.file_download import get_hf_file_metadata

    try:
        meta = get_hf_file_metadata(url, headers=_headers(url), token=False, endpoint=hub.endpoint())
    except Exception as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status:
            raise ModelUnavailable(f"{url} answered HTTP {status}; check the URL") from None
        raise ModelUnavailable(f"cannot reach {urlsplit(url).netloc} ({type(exc).__name__}) and "
                               f"{dest.name} is not in {dest.parent}; check the network and the URL") from None
    location = meta.location or url
    headers = _headers(location) if urlsplit(location).netloc == urlsplit(url).netloc else {}
    sha = meta.etag if _is_sha256(meta.etag) else None
    fetched = fetch(location, dest.with_name(dest.name + ".part"), dest, size=meta.size, sha256=sha,
                    headers=headers, label=dest.name, again=f"think models pull {url}",
                    progress=progress, gguf=True)
    hub.record_source(dest.name, url, sha)
    return Pulled(url, dest, hub.quant_of(dest.name), dest.stat().st_size, [dest.name], fetched)


def remove(name: str, aliases: dict[str, str]) -> tuple[str, list[Path]]:
    """Delete a pulled model (by alias, reference or file name); return its reference and the
    files removed. Blobs another snapshot still links to stay."""
    ref = aliases.get(name, name)
    parsed = hub.parse_hf(ref) if hub.is_pull_ref(ref) else None
    if parsed is not None:
        hit = hub.cached_choice(parsed)
        if hit is None:
            raise ThinkError(f"{ref} is not pulled; `think models` lists what is")
        snapshot, choice = hit
        return f"hf.co/{parsed.repo}:{choice.quant}", _remove_hf(parsed.repo, snapshot, choice)
    target = hub.url_target(ref) if hub.is_pull_ref(ref) else hub.models_dir() / (
        ref if ref.endswith(".gguf") else f"{ref}.gguf")
    if not target.is_file():
        raise ThinkError(f"no pulled model named {name!r}; `think models` lists them")
    target.unlink()
    target.with_name(target.name + ".part").unlink(missing_ok=True)
    url = hub.sources().get(target.name, {}).get("url")
    hub.record_source(target.name, None, None)
    return url or target.name, [target]


def _remove_hf(repo: str, snapshot: Path, choice: hub.Choice) -> list[Path]:
    root = hub.repo_dir(repo)
    removed = []
    for f in choice.files:
        pointer = snapshot / f.name
        blob = pointer.resolve()
        pointer.unlink()
        removed.append(pointer)
        still = any(p.resolve() == blob for p in (root / "snapshots").rglob("*") if p.is_symlink())
        if not still and blob.is_file() and blob.parent.name == "blobs":
            blob.unlink()
            removed.append(blob)
    if not any(p.is_file() for p in (root / "snapshots").rglob("*")):
        shutil.rmtree(root)  # nothing of the repo is left: drop its refs and empty folders too
    return removed
