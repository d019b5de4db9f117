"""Talking to an OpenAI-compatible server: one request with retries, and the response cache.

:class:`Endpoint` posts JSON to ``{base_url}{path}`` through one ``httpx.Client`` shared by the
threads of a generate call (httpx clients are thread-safe and pool their connections). A request
that fails on a 408/409/425/429/5xx status, a timeout, a refused or dropped connection, or a reply
that is not a completion, is sent again after an exponential backoff with jitter (``backoff * 2**n``
seconds, capped at ``max_backoff``, the wait drawn from its upper half); a ``Retry-After`` (or
``retry-after-ms``) header sets the wait instead. Other statuses (400, 401, 404, 422...) are not
retried: they raise one :class:`~gda_core.errors.GDAError` line naming the URL and the model.

:class:`ResponseCache` keeps every answered request as one JSON file, keyed by the SHA-256 of the
URL and the full request body (model, messages or prompt, every sampling field, the seed), written
atomically; it never holds the API key, which is read from the environment per client and only
put in the ``Authorization`` header.
"""

from __future__ import annotations

import contextlib
import datetime
import email.utils
import hashlib
import json
import logging
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gda_core.errors import ConfigError, GDAError

log = logging.getLogger("gda")

RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
MAX_RETRY_AFTER = 900.0
"""A server asking to wait longer than this (seconds) is an error, not a silent 15-minute wait."""


class ServerError(GDAError):
    """The server could not be reached or refused the request (one line naming the URL and model)."""


class Stopped(GDAError):
    """A request abandoned because another request of the same call failed for good."""


def retry_after_seconds(headers: Any, now: float | None = None) -> float | None:
    """The wait a response asks for: ``retry-after-ms`` (milliseconds), or ``Retry-After`` in
    seconds or as an HTTP date; None when absent or unreadable."""
    ms = headers.get("retry-after-ms")
    if ms is not None:
        with contextlib.suppress(ValueError):
            return max(0.0, float(ms) / 1000)
    value = headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def backoff_delay(retry: int, base: float, cap: float, rng: random.Random) -> float:
    """Exponential backoff with jitter: a wait drawn from the upper half of ``min(cap, base * 2**retry)``."""
    d = min(cap, base * (2 ** retry))
    return d / 2 + rng.uniform(0, d / 2)


def error_detail(response: Any, limit: int = 240) -> str:
    """The server's own error message on one line (FastAPI ``detail``, OpenAI ``error.message``, text)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    text = None
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            text = err.get("message")
        elif isinstance(err, str):
            text = err
        if text is None and "detail" in body:
            text = body["detail"] if isinstance(body["detail"], str) else json.dumps(body["detail"])
        if text is None and isinstance(body.get("message"), str):
            text = body["message"]
    if text is None:
        text = response.text
    text = " ".join(str(text).split())
    return text[:limit] + ("..." if len(text) > limit else "")


class Endpoint:
    """One server: posts JSON with retries (see the module docstring); safe to share between threads."""

    def __init__(self, base_url: str, model: str, *, api_key_env: str | None, timeout: float, max_retries: int,
                 backoff: float, max_backoff: float, concurrency: int) -> None:
        import httpx

        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key_env = api_key_env
        self.max_retries, self.backoff, self.max_backoff = max_retries, backoff, max_backoff
        self.timeout = timeout
        self._stop = threading.Event()
        self._rng = random.Random()  # jitter: timing only, never the samples
        headers = {"Content-Type": "application/json", "User-Agent": "gda-text"}
        key = self._key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self._client = httpx.Client(headers=headers, timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
                                    limits=httpx.Limits(max_connections=concurrency,
                                                        max_keepalive_connections=concurrency))

    def _key(self) -> str | None:
        if self.api_key_env is None:
            return None
        key = os.environ.get(self.api_key_env)
        if not key:
            raise ConfigError(f"generator.params.api_key_env: the environment variable {self.api_key_env} is not "
                              "set (export the API key in it, or set api_key_env: null for a server without keys)")
        return key

    def close(self) -> None:
        self._client.close()

    def stop(self) -> None:
        """Make every request still retrying give up at its next wait."""
        self._stop.set()

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def served_models(self) -> list[str] | None:
        """The model names ``GET /models`` lists (None when the server does not answer it)."""
        try:
            r = self._client.get(self.url("/models"), timeout=5.0)
            data = r.json().get("data") if r.status_code == 200 else None
            return [str(m.get("id")) for m in data if isinstance(m, dict)] if isinstance(data, list) else None
        except Exception:  # noqa: BLE001 - a hint for an error message, nothing more
            return None

    def _wait(self, seconds: float) -> None:
        if self._stop.wait(seconds):
            raise Stopped("stopped: another request failed")

    def post(self, path: str, body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """POST ``body`` to ``path``; ``(reply JSON, outcome)`` where the outcome holds ``attempts``,
        ``retries`` (count per cause) and ``seconds``. Raises :class:`ServerError` when it gives up."""
        import httpx

        url = self.url(path)
        t0 = time.perf_counter()
        retries: Counter = Counter()
        detail = ""
        for attempt in range(self.max_retries + 1):
            if self._stop.is_set():
                raise Stopped("stopped: another request failed")
            wait: float | None = None
            try:
                r = self._client.post(url, content=json.dumps(body, ensure_ascii=False).encode("utf-8"))
            except httpx.TimeoutException:
                cause = "timeout"
            except httpx.ConnectError as exc:
                cause = "connection refused" if "refused" in str(exc).lower() else "cannot connect"
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError, httpx.CloseError):
                cause = "connection dropped"
            except httpx.TransportError as exc:
                cause = type(exc).__name__
            else:
                if r.status_code in RETRY_STATUS:
                    cause = f"HTTP {r.status_code}"
                    wait = retry_after_seconds(r.headers)
                    detail = error_detail(r)
                elif r.status_code >= 400:
                    raise self._refused(r, path)
                else:
                    try:
                        reply = r.json()
                        ok = isinstance(reply, dict) and isinstance(reply.get("choices"), list)
                    except ValueError:
                        ok = False
                    if ok:
                        return reply, {"attempts": attempt + 1, "retries": dict(retries),
                                       "seconds": round(time.perf_counter() - t0, 3)}
                    cause = "reply not a completion"
            retries[cause] += 1
            if attempt == self.max_retries:
                break
            if wait is not None and wait > MAX_RETRY_AFTER:
                raise ServerError(f"{url} asks to wait {wait:.0f} s before trying again (Retry-After, for model "
                                  f"{self.model!r}); try again later")
            delay = wait if wait is not None else backoff_delay(attempt, self.backoff, self.max_backoff, self._rng)
            log.debug("%s: %s, retry %d in %.2f s", url, cause, attempt + 1, delay)
            self._wait(delay)
        tries = self.max_retries + 1
        took = time.perf_counter() - t0
        causes = ", ".join(f"{k}: {v}" for k, v in retries.items())
        if set(retries) <= {"connection refused", "cannot connect"}:
            raise ServerError(f"cannot reach {url} ({causes}; {tries} tries over {took:.1f} s): is the server "
                              "running, and is generator.params.base_url right?")
        if set(retries) == {"timeout"}:
            raise ServerError(f"{url} did not answer within generator.params.timeout={self.timeout:g} s "
                              f"({tries} tries, model {self.model!r}): raise the timeout or lower concurrency")
        last = f" (last: {detail})" if detail else ""
        how = "raise generator.params.max_retries or try again later"
        if set(retries) == {"HTTP 500"} and path.endswith("/chat/completions"):
            how = ("a model without a chat template fails there (transformers serve answers 500): give it one, "
                   "or set generator.params.mode=completion")
        raise ServerError(f"{url} failed {tries} tries in a row for model {self.model!r} ({causes}){last}; {how}")

    def _refused(self, r: Any, path: str) -> ServerError:
        url = self.url(path)
        detail = error_detail(r)
        if r.status_code in (401, 403):
            how = (f"check the key in the environment variable {self.api_key_env}" if self.api_key_env else
                   "this server wants a key: set generator.params.api_key_env to the NAME of the variable holding it")
            return ServerError(f"{url} refused the request (HTTP {r.status_code}: {detail}): {how}")
        served = self.served_models()
        hint = ""
        if served is not None and self.model not in served:
            hint = f"; the server serves: {', '.join(served[:8]) or 'no model'} (set generator.params.model)"
        err = ServerError(f"{url} answered HTTP {r.status_code} for model {self.model!r}: {detail.rstrip('.')}{hint}")
        err.status = r.status_code  # type: ignore[attr-defined]
        err.detail = detail  # type: ignore[attr-defined]
        return err


class ResponseCache:
    """Answered requests as JSON files under ``folder`` (none kept when ``folder`` is None)."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder

    @staticmethod
    def key(url: str, body: dict[str, Any]) -> str:
        """The SHA-256 of the URL and the full request body (canonical JSON)."""
        blob = json.dumps({"url": url.rstrip("/"), "body": body}, sort_keys=True, separators=(",", ":"),
                          ensure_ascii=False)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    def path(self, key: str) -> Path:
        assert self.folder is not None
        return self.folder / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        """The cached entry of ``key``, or None (a damaged file is ignored and will be replaced)."""
        if self.folder is None:
            return None
        path = self.path(key)
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("ignoring the damaged cache file %s (%s); the request is sent again", path, exc)
            return None
        return entry if isinstance(entry, dict) and entry.get("key") == key else None

    def put(self, key: str, entry: dict[str, Any]) -> None:
        if self.folder is None:
            return
        from gda_core.runfolder import atomic_write_text

        atomic_write_text(self.path(key), json.dumps({**entry, "key": key}, sort_keys=True, ensure_ascii=False))

    def entries(self) -> Iterator[dict[str, Any]]:
        """Every readable entry."""
        if self.folder is None or not self.folder.is_dir():
            return
        for path in sorted(self.folder.glob("??/*.json")):
            with contextlib.suppress(OSError, ValueError):
                entry = json.loads(path.read_text(encoding="utf-8"))
                if isinstance(entry, dict):
                    yield entry
