"""A real OpenAI-compatible server for the tests (``transformers serve``) and a fault proxy in front of it.

:class:`LocalServer` runs ``transformers serve MODEL --host 127.0.0.1 --port P --device cpu`` (the
model path pins the server to it) in a subprocess logging to a file, waits for ``GET /health``, and
can be killed (SIGKILL) and started again on the same port. uvicorn logs one access line per request
(``"POST /v1/chat/completions HTTP/1.1" 200``), which :meth:`LocalServer.posts` counts.

:class:`FaultProxy` is a threaded ``http.server`` that forwards to the server and, for the requests
its ``faults`` list names (in arrival order), answers 429 with ``Retry-After``, another status (503,
500), or drops the
connection before or after forwarding; with ``refuse_response_format`` it answers 422 to a request
holding ``response_format``, as a server without it would.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

CHAT_TEMPLATE = ("{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
                 "{% if add_generation_prompt %}<|assistant|>{% endif %}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_served_model(path: Path, texts: list[str]) -> Path:
    """A tiny GPT-2 (about 30 k parameters) with a chat template, pre-trained briefly on ``texts`` so its
    samples look like them, with room for few-shot prompts (512 positions)."""
    from text_helpers import build_tiny_gpt2

    return build_tiny_gpt2(path, texts, pretrain_epochs=20, chat_template=CHAT_TEMPLATE, n_positions=512)


class LocalServer:
    """``transformers serve`` on 127.0.0.1, started (:meth:`launch` then :meth:`wait`, or :meth:`start`)
    and killed by the tests."""

    def __init__(self, model: Path, log_dir: Path, port: int | None = None) -> None:
        self.model, self.log_dir = Path(model), Path(log_dir)
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None
        self.log: Path | None = None
        self.starts = 0
        self.startup_seconds: list[float] = []

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The OpenAI API root (``base_url``)."""
        return f"{self.root}/v1"

    def start(self, timeout: float = 240.0) -> LocalServer:
        """Launch the server and wait until ``GET /health`` answers."""
        return self.launch().wait(timeout)

    def launch(self) -> LocalServer:
        """Start the server process without waiting for it (:meth:`wait`)."""
        self.starts += 1
        self.log = self.log_dir / f"serve-{self.port}-{self.starts}.log"
        env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
               "TOKENIZERS_PARALLELISM": "false"}
        exe = Path(sys.executable).with_name("transformers")
        cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "transformers.cli.transformers"]
        self._t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            [*cmd, "serve", str(self.model), "--host", "127.0.0.1", "--port", str(self.port), "--device", "cpu"],
            stdout=self.log.open("w"), stderr=subprocess.STDOUT, env=env)
        return self

    def wait(self, timeout: float = 240.0) -> LocalServer:
        """Wait until the launched server answers ``GET /health`` (its start-up time is recorded)."""
        assert self.proc is not None and self.log is not None, "launch() first"
        while True:
            try:
                if httpx.get(f"{self.root}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"transformers serve exited with {self.proc.returncode}: "
                                   f"{self.log.read_text()[-3000:]}")
            if time.perf_counter() - self._t0 > timeout:
                self.kill()
                raise RuntimeError(f"transformers serve did not start within {timeout} s: "
                                   f"{self.log.read_text()[-3000:]}")
            time.sleep(0.1)
        if len(self.startup_seconds) < self.starts:
            self.startup_seconds.append(time.perf_counter() - self._t0)
        return self

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def posts(self) -> int:
        """Completion requests the current server process has answered (its access log)."""
        if self.log is None or not self.log.is_file():
            return 0
        return sum('"POST /v1/' in line for line in self.log.read_text(errors="replace").splitlines())


class FaultProxy:
    """A proxy in front of ``upstream`` (a server root, ``http://host:port``) that injects faults."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.faults: list[str] = []
        self.refuse_response_format = False
        self.seen: list[dict] = []
        self.forwarded = 0
        self.lock = threading.Lock()
        self.client = httpx.Client(timeout=120)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def _forward(self, method: str, body: bytes | None) -> httpx.Response:
                headers = {k: v for k, v in self.headers.items() if k.lower() in ("content-type", "authorization")}
                r = proxy.client.request(method, proxy.upstream + self.path, content=body, headers=headers)
                with proxy.lock:
                    proxy.forwarded += 1
                return r

            def do_GET(self) -> None:
                try:
                    r = self._forward("GET", None)
                except httpx.HTTPError:
                    self._send(502, b'{"error": "upstream down"}')
                    return
                self._send(r.status_code, r.content)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with proxy.lock:
                    fault = proxy.faults.pop(0) if proxy.faults else "pass"
                    proxy.seen.append({"path": self.path, "fault": fault,
                                       "authorization": self.headers.get("Authorization"),
                                       "body": json.loads(body or b"{}")})
                if proxy.refuse_response_format and b'"response_format"' in body:
                    self._send(422, b'{"detail": "Unexpected fields in the request: {\'response_format\'}"}')
                    return
                if fault == "429":
                    self._send(429, b'{"error": {"message": "rate limited"}}', {"Retry-After": "1"})
                    return
                if fault.isdigit():  # 503, 500 ...: the status with a body like the server's own
                    self._send(int(fault), b'{"error": "overloaded"}' if fault == "503" else b"Internal Server Error")
                    return
                if fault == "drop":
                    self.close_connection = True  # no answer at all: the client sees the connection close
                    return
                try:
                    r = self._forward("POST", body)
                except httpx.HTTPError:
                    self._send(502, b'{"error": "upstream down"}')
                    return
                if fault == "drop-after":  # the server did the work, the answer is lost on the way back
                    self.close_connection = True
                    return
                self._send(r.status_code, r.content)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.client.close()


def write_table(path: Path, toy) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for r in toy:
            w.writerow([r.data, r.label])
    return path


def openai_config(table: Path, url: str, model: str, **params) -> dict:
    """A small run: 6 samples per class in shards of 4, no selection, TF-IDF features (nothing heavy)."""
    gen = {"base_url": url, "model": model, "shots": 3, "samples_per_prompt": 2, "max_new_tokens": 8,
           "concurrency": 1, "max_retries": 2, "backoff": 0.05, **params}
    return {"seed": 0, "dataset": {"name": "text.table", "params": {"path": str(table)}},
            "generator": {"name": "text.openai", "params": gen}, "generate": {"per_class": 6, "shard_size": 4},
            "selectors": [], "validators": [], "application": "text.classifier", "embedder": "text.tfidf"}
