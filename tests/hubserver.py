"""A small Hugging Face Hub on 127.0.0.1, answering the way the Hub does, for pull tests.

The Hub side serves the model API (``/api/models/REPO[/revision/REV]?blobs=true``
with LFS sha256 and sizes, ``/api/models/REPO/tree/REV``) and
``/REPO/resolve/REV/FILE``, which redirects LFS files to a second server (the
CDN, another port: another host as far as a client can tell) with ``ETag``,
``X-Repo-Commit``, ``X-Linked-Etag`` and ``X-Linked-Size``. The CDN honours
``Range``; it also serves ``/files/NAME.gguf`` like any web server (direct-URL pulls). Unknown repos answer 404 ``RepoNotFound``; a gated repo answers 401
``GatedRepo`` without the right token. Misbehaviour on request:

    cut[KEY] = N      the next GET of blob KEY sends N bytes, then drops the connection
    down_after_cut    after a cut, every request answers 503 until ``down`` is reset
    down              every request answers 503
    throttle = S      sleep S seconds per 256 KiB of a blob: a slow link to interrupt

Every request is recorded (server, method, path, headers); ``served[KEY]`` counts body bytes.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class Blob:
    path: Path
    offset: int
    length: int
    flip: bool = False  # serve one byte changed: a corrupt mirror
    sha256: str = ""

    def read(self, start: int, end: int) -> bytes:
        with open(self.path, "rb") as fh:
            fh.seek(self.offset + start)
            data = fh.read(end - start)
        if self.flip and start <= 100 < end:
            data = data[: 100 - start] + bytes([data[100 - start] ^ 0xFF]) + data[101 - start:]
        return data


@dataclass
class Repo:
    files: dict[str, Blob | bytes] = field(default_factory=dict)  # bytes: a small file kept in git
    gated: bool = False


def _hash(blob: Blob) -> str:
    digest = hashlib.sha256()
    with open(blob.path, "rb") as fh:
        fh.seek(blob.offset)
        left = blob.length
        while left:
            part = fh.read(min(left, 1 << 20))
            digest.update(part)
            left -= len(part)
    return digest.hexdigest()


def split_gguf(gguf: Path, folder: Path, parts: int = 3) -> list[Path]:
    """A real split model, as llama.cpp's gguf-split makes it: ``NAME-0000i-of-0000n.gguf``
    shards with ``split.*`` metadata, written by the ``gguf`` package (a test extra)."""
    import gguf as g

    reader = g.GGUFReader(gguf)
    writer = g.GGUFWriter(folder / "smol-Q4_1.gguf", reader.fields["general.architecture"].contents(),
                          split_max_tensors=-(-len(reader.tensors) // parts))
    for f in reader.fields.values():
        if f.name != "general.architecture" and not f.name.startswith("GGUF."):
            kind = f.types[0]
            writer.add_key_value(f.name, f.contents(), kind, sub_type=f.types[-1] if kind == g.GGUFValueType.ARRAY else None)
    for t in reader.tensors:
        writer.add_tensor(t.name, t.data, raw_shape=t.data.shape, raw_dtype=t.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return sorted(folder.glob("smol-Q4_1-*-of-*.gguf"))


def standard_repos(gguf: Path, split: list[Path] | None = None) -> dict[str, Repo]:
    """The embedded GGUF as a single file, corrupt, gated, a repo without GGUF, and (given
    ``split``, from split_gguf) in parts."""
    size = gguf.stat().st_size
    whole = Blob(gguf, 0, size)
    whole.sha256 = _hash(whole)
    bad = Blob(gguf, 0, size, flip=True, sha256=whole.sha256)
    readme = b"# test repo\n"
    repos = {
        "test/smol-GGUF": Repo({"README.md": readme, "smol-Q4_1.gguf": whole, "smol-Q8_0.gguf": whole}),
        "test/corrupt-GGUF": Repo({"smol-Q4_1.gguf": bad}),
        "test/gated-GGUF": Repo({"smol-Q4_1.gguf": whole}, gated=True),
        "test/no-gguf": Repo({"README.md": readme, "model.safetensors": Blob(gguf, 0, 4096)}),
    }
    if split:
        repos["test/split-GGUF"] = Repo({"README.md": readme, **{p.name: Blob(p, 0, p.stat().st_size) for p in split}})
    return repos


def _entries(repo: Repo) -> list[dict]:
    """The repo's files as the Hub's tree API lists them (LFS files with their sha256)."""
    out = []
    for name, blob in repo.files.items():
        if isinstance(blob, Blob):
            out.append({"type": "file", "path": name, "size": blob.length, "oid": blob.sha256[:40],
                        "lfs": {"oid": blob.sha256, "size": blob.length, "pointerSize": 134}})
        else:
            out.append({"type": "file", "path": name, "size": len(blob), "oid": hashlib.sha1(blob).hexdigest()})
    return out


class HubServer:
    def __init__(self, repos: dict[str, Repo], token: str = "") -> None:
        self.repos = repos
        self.token = token
        self.cut: dict[str, int] = {}
        self.down = False
        self.down_after_cut = False
        self.throttle = 0.0  # seconds slept per 256 KiB sent: a slow link
        self.served: dict[str, int] = {}
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        self.blobs: dict[str, Blob] = {}
        for repo in repos.values():
            for blob in repo.files.values():
                if isinstance(blob, Blob):
                    blob.sha256 = blob.sha256 or _hash(blob)
                    self.blobs[blob.sha256 + ("-bad" if blob.flip else "")] = blob
        self.direct = {"smol-Q4_1.gguf": self.key_of("test/smol-GGUF", "smol-Q4_1.gguf")} if "test/smol-GGUF" in repos else {}
        self.hub = self._serve("hub")
        self.cdn = self._serve("cdn")

    def _serve(self, role: str) -> ThreadingHTTPServer:
        server = self

        class Handler(_Handler):
            hub = server
            name = role

        httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        httpd.daemon_threads = True
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        return httpd

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.hub.server_address[1]}"

    @property
    def cdn_url(self) -> str:
        return f"http://127.0.0.1:{self.cdn.server_address[1]}"

    def key_of(self, repo: str, name: str) -> str:
        blob = self.repos[repo].files[name]
        return blob.sha256 + ("-bad" if blob.flip else "")

    def close(self) -> None:
        for httpd in (self.hub, self.cdn):
            httpd.shutdown()
            httpd.server_close()


class _Handler(BaseHTTPRequestHandler):
    hub: HubServer
    name: str
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # quiet
        pass

    def do_HEAD(self) -> None:
        self._route(body=False)

    def do_GET(self) -> None:
        self._route(body=True)

    def _route(self, body: bool) -> None:
        with self.hub._lock:
            self.hub.requests.append({"server": self.name, "method": self.command, "path": self.path,
                                      "headers": {k.title(): v for k, v in self.headers.items()}})
        if self.hub.down:
            return self._error(503, "", "Service Unavailable", body)
        path = self.path.split("?", 1)[0]
        if self.name == "cdn":
            if m := re.fullmatch(r"/files/([\w.-]+\.gguf)", path):  # a plain web server with the file
                key = self.hub.direct.get(m.group(1))
                return self._blob(key, body) if key else self._error(404, "", "no file", body)
            m = re.fullmatch(r"/cdn/([\w-]+)", path)
            return self._blob(m.group(1), body) if m and m.group(1) in self.hub.blobs else self._error(404, "", "no blob", body)
        if m := re.fullmatch(r"/api/models/([\w.-]+/[\w.-]+)(?:/revision/main)?", path):
            return self._info(m.group(1), body)
        if m := re.fullmatch(r"/api/models/([\w.-]+/[\w.-]+)/tree/main", path):
            return self._tree(m.group(1), body)
        if m := re.fullmatch(r"/([\w.-]+/[\w.-]+)/resolve/([\w.-]+)/(.+)", path):
            return self._resolve(m.group(1), m.group(3), body)
        self._error(404, "", "not found", body)

    def _repo(self, repo_id: str, body: bool) -> Repo | None:
        repo = self.hub.repos.get(repo_id)
        if repo is None:
            self._error(404, "RepoNotFound", "Repository not found", body)
        return repo

    def _info(self, repo_id: str, body: bool) -> None:
        if (repo := self._repo(repo_id, body)) is None:
            return
        siblings = [{"rfilename": e["path"], "size": e["size"], "blobId": e["oid"],
                     **({"lfs": {"sha256": e["lfs"]["oid"], "size": e["size"], "pointerSize": 134}} if "lfs" in e else {})}
                    for e in _entries(repo)]
        doc = {"_id": repo_id, "id": repo_id, "modelId": repo_id, "sha": COMMIT, "private": False,
               "gated": "manual" if repo.gated else False, "tags": ["gguf"], "siblings": siblings}
        self._json(doc, body)

    def _tree(self, repo_id: str, body: bool) -> None:
        if (repo := self._repo(repo_id, body)) is not None:
            self._json(_entries(repo), body)

    def _resolve(self, repo_id: str, name: str, body: bool) -> None:
        if (repo := self._repo(repo_id, body)) is None:
            return
        if repo.gated and self.headers.get("Authorization") != f"Bearer {self.hub.token}":
            code = 403 if self.headers.get("Authorization") else 401
            return self._error(code, "GatedRepo", f"Access to model {repo_id} is restricted. You must have "
                               "access to it and be authenticated to access it. Please log in.", body)
        blob = repo.files.get(name)
        if blob is None:
            return self._error(404, "EntryNotFound", "Entry not found", body)
        if isinstance(blob, bytes):
            self.send_response(200)
            self._common(hashlib.sha1(blob).hexdigest(), len(blob))
            self.end_headers()
            if body:
                self.wfile.write(blob)
            return
        key = self.hub.key_of(repo_id, name)
        self.send_response(302)
        self.send_header("Location", f"{self.hub.cdn_url}/cdn/{key}")
        self.send_header("X-Linked-Etag", f'"{blob.sha256}"')
        self.send_header("X-Linked-Size", str(blob.length))
        self._common(blob.sha256[:40], 0)
        self.end_headers()

    def _common(self, etag: str, length: int) -> None:
        self.send_header("ETag", f'"{etag}"')
        self.send_header("X-Repo-Commit", COMMIT)
        self.send_header("Content-Length", str(length))

    def _blob(self, key: str, body: bool) -> None:
        blob = self.hub.blobs[key]
        start, end = 0, blob.length
        rng = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        if rng:
            start = int(rng.group(1))
            end = min(end, int(rng.group(2)) + 1) if rng.group(2) else end
            if start >= blob.length:
                return self._error(416, "", "Range Not Satisfiable", body)
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{blob.length}")
        else:
            self.send_response(200)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", f'"{blob.sha256}"')
        self.send_header("Content-Length", str(end - start))
        self.end_headers()
        if not body:
            return
        with self.hub._lock:
            limit = self.hub.cut.pop(key, None)
        stop = end if limit is None else min(end, start + limit)
        pos = start
        while pos < stop:
            data = blob.read(pos, min(stop, pos + (256 << 10)))
            try:
                self.wfile.write(data)
            except OSError:
                break
            with self.hub._lock:
                self.hub.served[key] = self.hub.served.get(key, 0) + len(data)
            pos += len(data)
            if self.hub.throttle:
                time.sleep(self.hub.throttle)
        if limit is not None:
            self.wfile.flush()
            self.hub.down = self.hub.down or self.hub.down_after_cut
            self.close_connection = True
            self.connection.shutdown(2)  # the connection drops mid-body

    def _json(self, doc, body: bool) -> None:
        data = json.dumps(doc).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if body:
            self.wfile.write(data)

    def _error(self, code: int, error_code: str, message: str, body: bool) -> None:
        data = json.dumps({"error": message}).encode()
        self.send_response(code)
        if error_code:
            self.send_header("X-Error-Code", error_code)
        self.send_header("X-Error-Message", message)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if body:
            self.wfile.write(data)
