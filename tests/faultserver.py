"""A small OpenAI-compatible server on 127.0.0.1 that misbehaves on request.

Serves /v1/chat/completions and /v1/completions (SSE, chunked; one JSON document for
``"stream": false``, except for the stream faults and tool calls), /apply-template
and /v1/models from a thread per connection, so concurrent requests really run
concurrently. ``faults`` is a queue consumed one entry per completion request:

    {"status": 429, "retry_after": "1"}   an error answer (body optional)
    {"drop": True}                       close the connection without answering
    {"cut": True}                        stream half the answer, then drop the connection
    {"malformed": True}                  a data line that is not JSON
    {"empty": True}                      a stream with no choices at all
    {"stream_error": True}               an error object in the middle of the stream
    {"echo_auth": 401}                   that status, echoing the Authorization header back
    {"delay": 0.5}                       this answer waits that long instead of ``delay``
    {"hang": True}                       read the request, then never answer (until the server stops)
    {"keepalive": True}                  200 and SSE keep-alive comments forever, never any data
    {"endless": True}                    stream content without end, ignoring max_tokens
    {"echo_key": True}                   a normal answer whose text carries the Authorization header's key
    {"reply": "text"}                    a normal answer with this text instead of ``reply``

The endless modes stop when the client goes away or the server stops, and after ``ENDLESS_CAP_S``
at the latest, so a broken client never leaves a test hanging forever.

``tool_calls`` (a list of {"name", "arguments"}) answers any chat request that carries
``tools`` with those calls, streamed as ``delta.tool_calls`` pieces.
``delay`` (seconds) is added before every answer: the slow mode the benchmark uses.
``slots`` answers at most that many completion requests at once, queueing the rest
(as llama.cpp's server does with ``--parallel``); None answers all at once.
Every request is recorded (path, headers, body) for the tests to read back;
``in_flight`` and ``peak_in_flight`` count completion requests being answered at once,
``connections`` the connections accepted.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEFAULT_REPLY = "Two plus two makes four.\nFinal answer: 4"
ENDLESS_CAP_S = 300.0  # the longest a hang, keep-alive or endless answer lasts
STREAM_FAULTS = {"cut", "malformed", "stream_error"}  # answered as a stream even when asked for a whole answer


TOP_LOGPROBS = [-0.25, -2.0, -3.0, -4.0]  # the alternatives every token is given, as top_logprobs


def _tops(body: dict) -> dict:
    """The top_logprobs list a chat request asked for (at most what the server has)."""
    k = int(body.get("top_logprobs") or 0)
    return {"top_logprobs": [{"token": f"alt{i}", "logprob": x} for i, x in enumerate(TOP_LOGPROBS[:k])]} if k else {}


class FaultServer:
    def __init__(
        self,
        reply: str | Any = DEFAULT_REPLY,  # text, or callable(body, request_number) -> text
        *,
        honour_n: bool = True,
        usage: dict | bool = True,  # True: counted from the words; a dict: reported as given
        delay: float = 0.0,
        reasoning: str | None = None,  # streamed first in the reasoning_content field
        template: bool = True,
        logprobs: bool = True,
        token_delay: float = 0.0,  # seconds between streamed pieces
        fault_when=None,  # callable(body) -> fault dict | None, asked when `faults` is empty
        slots: int | None = None,
        tool_calls: list[dict] | None = None,  # answered to requests with tools
    ) -> None:
        self.tool_calls = tool_calls
        self.reply = reply
        self.honour_n = honour_n
        self.usage = usage
        self.delay = delay
        self.reasoning = reasoning
        self.template = template
        self.logprobs = logprobs
        self.token_delay = token_delay
        self.fault_when = fault_when
        self._slots = threading.BoundedSemaphore(slots) if slots else None
        self.faults: list[dict] = []
        self.requests: list[dict] = []
        self.completions = 0
        self.in_flight = 0  # completion requests being answered right now
        self.peak_in_flight = 0  # the most at any one time: what a concurrency bound is checked against
        self.connections = 0  # TCP connections accepted: what a client's keep-alive is checked against
        self.stopping = threading.Event()  # ends the hang / keep-alive / endless answers
        self._lock = threading.Lock()
        server = self

        class Handler(_Handler):
            owner = server

        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FaultServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def completion_requests(self) -> list[dict]:
        return [r for r in self.requests if r["path"].endswith("completions")]

    def _enter(self) -> None:
        with self._lock:
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    def _leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def _next(self, body: dict) -> tuple[dict, str]:
        with self._lock:
            fault = self.faults.pop(0) if self.faults else (self.fault_when and self.fault_when(body)) or {}
            number = self.completions
            self.completions += 1
        text = self.reply(body, number) if callable(self.reply) else self.reply
        return fault, text


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # the default 5 resets connections when a batch opens dozens at once


class _Handler(BaseHTTPRequestHandler):
    owner: FaultServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # quiet: tests read requests, not logs
        pass

    def setup(self) -> None:
        super().setup()
        with self.owner._lock:
            self.owner.connections += 1
        # as real servers do: without it Nagle holds each streamed chunk for the client's delayed ACK (40 ms)
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        self._record(None)
        if self.path.rstrip("/") == "/v1/models":
            return self._json(200, {"object": "list", "data": [{"id": "fault-model", "object": "model"}]})
        self._json(404, {"error": {"message": f"no route {self.path}"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            return self._json(400, {"error": {"message": "body is not JSON"}})
        self._record(body)
        path = self.path.rstrip("/")
        if path == "/apply-template":
            if not self.owner.template:
                return self._json(404, {"error": {"message": "not found"}})
            prompt = "".join(f"<|{m['role']}|>{m['content']}\n" for m in body.get("messages", []))
            return self._json(200, {"prompt": prompt + "<|assistant|>"})
        if path not in ("/v1/chat/completions", "/v1/completions"):
            return self._json(404, {"error": {"message": f"no route {self.path}"}})
        self.owner._enter()
        try:
            if self.owner._slots is None:
                return self._complete(body, path)
            with self.owner._slots:
                self._complete(body, path)
        finally:
            self.owner._leave()

    def _complete(self, body: dict, path: str) -> None:
        fault, text = self.owner._next(body)
        wait = fault.get("delay", self.owner.delay)
        if wait:
            time.sleep(wait)
        if fault.get("drop"):
            return self._drop()
        if fault.get("hang"):
            self.owner.stopping.wait(ENDLESS_CAP_S)
            return self._drop()
        if fault.get("reply") is not None:
            text = fault["reply"]
        if fault.get("echo_key"):
            auth = self.headers.get("Authorization", "")
            text = f"The key you sent is {auth.removeprefix('Bearer ')}.\nFinal answer: {auth.removeprefix('Bearer ')}"
        if "status" in fault:
            headers = {"Retry-After": fault["retry_after"]} if fault.get("retry_after") else {}
            return self._json(fault["status"], fault.get("body") or {"error": {"message": "injected fault"}}, headers)
        if fault.get("echo_auth"):
            auth = self.headers.get("Authorization", "")
            return self._json(fault["echo_auth"], {"error": {"message": f"Incorrect API key provided: {auth}"}})
        try:
            chat = path.endswith("chat/completions")
            if fault.get("keepalive") or fault.get("endless"):
                return self._forever(fault, chat=chat)
            if body.get("stream") is False and not STREAM_FAULTS & fault.keys() and not (chat and body.get("tools")):
                return self._whole(body, text, fault, chat=chat)
            self._stream(body, text, fault, chat=chat)
        except (BrokenPipeError, ConnectionResetError):  # the client cancelled: expected, not noise
            self.close_connection = True

    # -- answers ---------------------------------------------------------------

    def _record(self, body) -> None:
        self.owner.requests.append({"path": self.path, "headers": dict(self.headers.items()), "body": body})

    def _json(self, status: int, doc: dict, headers: dict | None = None) -> None:
        data = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _chunk(self, text: str) -> None:
        data = text.encode()
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _event(self, doc: dict | str) -> None:
        self._chunk("data: " + (doc if isinstance(doc, str) else json.dumps(doc)) + "\n\n")

    def _pieces(self, body: dict, text: str) -> tuple[int, list[str], str]:
        """Choices to send, the answer's tokens (words) within max_tokens, and its finish reason."""
        n = int(body.get("n") or 1) if self.owner.honour_n else 1
        words = text.split(" ")
        pieces = [w if i == 0 else " " + w for i, w in enumerate(words)]
        limit = int(body.get("max_tokens") or len(pieces))
        return n, pieces[:limit], "length" if len(pieces) > limit else "stop"

    def _usage(self, body: dict, pieces: list[str], n: int) -> dict:
        return self.owner.usage if isinstance(self.owner.usage, dict) else {
            "prompt_tokens": sum(len(str(m.get("content", "")).split()) for m in body.get("messages", [])) or 1,
            "completion_tokens": len(pieces) * n,
            "total_tokens": 0,
        }

    def _whole(self, body: dict, text: str, fault: dict, chat: bool) -> None:
        """The answer in one JSON document, as servers answer ``"stream": false``."""
        n, pieces, finish = self._pieces(body, text)
        want_lp = bool(body.get("logprobs")) and self.owner.logprobs
        choices = []
        for index in range(0 if fault.get("empty") else n):
            choice: dict[str, Any] = {"index": index, "finish_reason": finish}
            if chat:
                reasoning = {"reasoning_content": self.owner.reasoning} if self.owner.reasoning else {}
                choice["message"] = {"role": "assistant", "content": "".join(pieces), **reasoning}
            else:
                choice["text"] = "".join(pieces)
            if want_lp:
                choice["logprobs"] = (
                    {"content": [{"token": p, "logprob": -0.25, **_tops(body)} for p in pieces]} if chat
                    else {"token_logprobs": [-0.25] * len(pieces)}
                )
            choices.append(choice)
        doc = {"object": "chat.completion" if chat else "text_completion", "choices": choices}
        if self.owner.usage:
            doc["usage"] = self._usage(body, pieces, n)
        self._json(200, doc)

    def _stream(self, body: dict, text: str, fault: dict, chat: bool) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        n, pieces, finish = self._pieces(body, text)
        want_lp = bool(body.get("logprobs")) and self.owner.logprobs
        if fault.get("empty"):
            self._event({"id": "x", "choices": []})
            return self._end()
        if chat and body.get("tools") and self.owner.tool_calls:
            return self._calls(body)
        if self.owner.reasoning and chat:
            for index in range(n):
                self._event({"choices": [{"index": index, "delta": {"reasoning_content": self.owner.reasoning}}]})
        for k, piece in enumerate(pieces):
            if fault.get("cut") and k == len(pieces) // 2:
                return self._drop()
            if fault.get("malformed") and k == len(pieces) // 2:
                self._chunk("data: {\"choices\": [{\"index\": 0, \"delta\": \n\n")
                return self._end()
            if fault.get("stream_error") and k == len(pieces) // 2:
                self._event({"error": {"message": "the model crashed"}})
                return self._end()
            for index in range(n):
                choice: dict[str, Any] = {"index": index, "finish_reason": None}
                choice.update({"delta": {"content": piece}} if chat else {"text": piece})
                if want_lp:
                    choice["logprobs"] = (
                        {"content": [{"token": piece, "logprob": -0.25, **_tops(body)}]} if chat
                        else {"token_logprobs": [-0.25]}
                    )
                self._event({"object": "chat.completion.chunk", "choices": [choice]})
            if self.owner.token_delay:
                time.sleep(self.owner.token_delay)
        for index in range(n):
            self._event({"choices": [{"index": index, "delta": {}, "finish_reason": finish}]})
        if (body.get("stream_options") or {}).get("include_usage") and self.owner.usage:
            self._event({"choices": [], "usage": self._usage(body, pieces, n)})
        self._event("[DONE]")
        self._end()

    def _calls(self, body: dict) -> None:
        """The configured tool calls: id and name first, then the arguments in two pieces."""
        for k, call in enumerate(self.owner.tool_calls):
            head = {"index": k, "id": f"call_{k}", "type": "function", "function": {"name": call["name"], "arguments": ""}}
            self._event({"choices": [{"index": 0, "delta": {"role": "assistant", "tool_calls": [head]}}]})
            args = call["arguments"]
            for piece in (args[: len(args) // 2], args[len(args) // 2 :]):
                self._event({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": k, "function": {"arguments": piece}}]}}]})
        self._event({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})
        if (body.get("stream_options") or {}).get("include_usage"):
            self._event({"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12}})
        self._event("[DONE]")
        self._end()

    def _forever(self, fault: dict, chat: bool) -> None:
        """Keep-alive comments or content, until the client leaves or the server stops."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        deadline = time.monotonic() + ENDLESS_CAP_S
        while not self.owner.stopping.is_set() and time.monotonic() < deadline:
            if fault.get("keepalive"):
                self._chunk(": keep-alive\n\n")
                self.owner.stopping.wait(0.05)
            else:
                choice = {"index": 0, "finish_reason": None}
                choice.update({"delta": {"content": " more"}} if chat else {"text": " more"})
                self._event({"object": "chat.completion.chunk", "choices": [choice]})
        self.close_connection = True

    def _end(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


if __name__ == "__main__":  # a manual run: python -m tests.faultserver [delay]
    import sys

    srv = FaultServer(delay=float(sys.argv[1]) if len(sys.argv) > 1 else 0.0).start()
    print(srv.url, flush=True)
    try:
        srv.thread.join()
    except KeyboardInterrupt:
        srv.stop()
