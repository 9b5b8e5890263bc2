"""The review page's local HTTP server: the standard library's http.server on 127.0.0.1, a
token on every request, Host and Origin checked (no CSRF, no DNS rebinding), one action at a
time. It outlives its clients: every request gets an answer or a clean close, bodies are bounded
in size and depth, idle and slow connections time out, and a run file that vanishes or is
damaged meanwhile is a JSON error naming it."""

from __future__ import annotations

import hmac
import json
import logging
import re
import secrets
import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from ..errors import BadNameError, BusyError, ClusterpipeError, StoreError
from .answers import answer, keep_apart, question, suggestions
from .preview import describe, frame_jpeg
from .state import Review, StalePage

log = logging.getLogger("clusterpipe")

TOKEN_HEADER = "X-Clusterpipe-Token"
COOKIE = "clusterpipe_token"
MAX_BODY = 1 << 20  # 1 MiB of JSON holds ~20,000 face ids
MAX_DEPTH = 16  # the API's bodies nest 2 levels; Python's parser recurses per level
# A connection has this long to send each request (from waiting for its first line to the last
# byte of its body), and to take the answer: idle and trickling clients are closed.
REQUEST_SECONDS = 10.0
MAX_CONNECTIONS = 64  # at once; a browser opens at most 6 per host
_STRINGS = re.compile(rb'"(?:\\.|[^"\\])*"')


def nesting(raw: bytes) -> int:
    """How deep the arrays and objects of a JSON text nest (strings skipped)."""
    import numpy as np

    b = np.frombuffer(_STRINGS.sub(b'""', raw), np.uint8)
    step = np.isin(b, (ord("["), ord("{"))).astype(np.int64) - np.isin(b, (ord("]"), ord("}")))
    return int(np.cumsum(step).max(initial=0))


CONTENT_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png"}


class ReviewServer(ThreadingHTTPServer):
    """Serves one run's review page; `url` carries the token."""

    daemon_threads = True

    def __init__(self, out: str | Path, port: int = 8765, token: str | None = None) -> None:
        self.review = Review(out)
        self.token = token or secrets.token_urlsafe(24)
        self.actions = threading.Lock()  # Review is not thread-safe: one call at a time
        self.page = resources.files(__package__).joinpath("page.html").read_bytes()
        try:
            super().__init__(("127.0.0.1", port), _Handler)
        except OSError as e:
            raise ClusterpipeError(
                f"cannot listen on 127.0.0.1:{port} ({e.strerror or e}); choose another "
                "--port, or --port 0 for a free one"
            ) from e
        self.port = self.server_address[1]
        self.hosts = {f"127.0.0.1:{self.port}", f"localhost:{self.port}"}
        self.slots = threading.BoundedSemaphore(MAX_CONNECTIONS)

    def process_request(self, request, client_address) -> None:
        """One thread per connection, at most MAX_CONNECTIONS at once: past that a new
        connection is closed at once (the page retries) instead of exhausting descriptors."""
        if not self.slots.acquire(blocking=False):
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()
            raise

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

    def handle_error(self, request, client_address) -> None:
        """A client that hung up or timed out is normal; anything else is one log line (the
        traceback with CLUSTERPIPE_DEBUG=1 via the debug log), never a traceback on stderr."""
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | TimeoutError):
            log.debug("review: %s: %s", client_address, exc)
        else:
            log.warning("review: a request failed: %s", exc)
            log.debug("review: traceback", exc_info=True)

    def stop(self) -> None:
        """Close, once the action in flight is applied whole (Ctrl-C must not cut a move in
        two); no new action starts meanwhile. Called from the thread that serves."""
        if not self.actions.acquire(blocking=False):
            log.warning("review: finishing the change in progress before stopping")
            self.actions.acquire()  # held to the end: the handler threads die with the process
        self.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/?token={self.token}"


class _Handler(BaseHTTPRequestHandler):
    server: ReviewServer
    server_version = "clusterpipe-review"
    protocol_version = "HTTP/1.1"
    timeout = REQUEST_SECONDS  # the socket's, set in setup(); _Deadline keeps it shrinking

    def log_message(self, format: str, *args) -> None:
        log.debug("review: " + format, *args)

    def setup(self) -> None:
        super().setup()
        self.deadline = time.monotonic() + REQUEST_SECONDS
        self.rfile = _Deadline(self.rfile, self)  # type: ignore[assignment]

    def handle_one_request(self) -> None:
        """One request with its own deadline; a client gone or too slow is closed quietly."""
        self.deadline = time.monotonic() + REQUEST_SECONDS
        try:
            super().handle_one_request()
        except (ConnectionError, TimeoutError) as e:
            log.debug("review: connection closed: %s", e)
            self.close_connection = True

    # ---- checks --------------------------------------------------------------------------

    def _token_ok(self) -> bool:
        given = self.headers.get(TOKEN_HEADER) or None  # an empty header is no token
        if given is None:
            given = next(iter(parse_qs(urlsplit(self.path).query).get("token", [])), None)
        if given is None:
            for part in (self.headers.get("Cookie") or "").split(";"):
                key, _, value = part.strip().partition("=")
                if key == COOKIE:
                    given = value
        return given is not None and hmac.compare_digest(given.encode(), self.server.token.encode())

    def _refused(self) -> str | None:
        """Why this request is refused, or None."""
        if self.headers.get("Host") not in self.server.hosts:
            return "unknown Host (the page is served on 127.0.0.1 only)"
        origin = self.headers.get("Origin")
        if origin is not None and origin not in {f"http://{h}" for h in self.server.hosts}:
            return "foreign Origin"
        if self.headers.get("Sec-Fetch-Site") not in (None, "same-origin", "none"):
            return "cross-site request"
        if not self._token_ok():
            return "missing or wrong token: open the URL that `clusterpipe review` printed"
        return None

    # ---- answers -------------------------------------------------------------------------

    def _send(self, status: int, body: bytes, ctype: str, extra: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, data: dict) -> None:
        body = json.dumps(data, ensure_ascii=False).encode()
        self._send(status, body, "application/json; charset=utf-8", {"Cache-Control": "no-store"})

    def _error(self, status: int, message: str) -> None:
        self._json(status, {"error": message})

    # ---- routes --------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._safely(self._get)

    def do_HEAD(self) -> None:
        self._safely(self._get)

    def do_POST(self) -> None:
        self._safely(self._post)

    def _not_allowed(self) -> None:
        self._error(HTTPStatus.METHOD_NOT_ALLOWED, f"{self.command} is not served here")

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_TRACE = do_CONNECT = _not_allowed

    def _safely(self, handler) -> None:
        """Run a route; whatever it raises is an answer, never a traceback."""
        try:
            handler()
        except (ConnectionError, TimeoutError):
            raise  # the client is gone: nothing to answer (handle_one_request closes)
        except Exception as e:
            log.warning("review: %s %s failed: %s", self.command, self.path[:80], e)
            log.debug("review: traceback", exc_info=True)
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, f"internal error: {e}"[:300])

    def _get(self) -> None:
        why = self._refused()
        if why:
            return self._error(HTTPStatus.FORBIDDEN, why)
        path = urlsplit(self.path).path
        if path in ("/", "/index.html"):
            cookie = f"{COOKIE}={self.server.token}; Path=/; HttpOnly; SameSite=Strict"
            csp = (
                "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; "
                "script-src 'unsafe-inline'; connect-src 'self'; base-uri 'none'; "
                "form-action 'none'; frame-ancestors 'none'"
            )
            extra = {"Set-Cookie": cookie, "Content-Security-Policy": csp}
            extra["Cache-Control"] = "no-store"
            return self._send(200, self.server.page, "text/html; charset=utf-8", extra)
        if path == "/api/folders":
            return self._call(lambda r: r.snapshot())
        if path == "/api/question":
            return self._call(question)
        if path == "/api/suggestions":
            return self._call(suggestions)
        if path.startswith(("/api/face/", "/frame/")):
            fid = unquote(path.split("/")[-1])
            with self.server.actions:
                known = self._known(fid)
            if known is not True:
                return known
        if path.startswith("/api/face/"):
            return self._call(lambda r: describe(r, fid))
        if path.startswith("/frame/"):
            try:
                with self.server.actions:
                    body = frame_jpeg(self.server.review, unquote(path[len("/frame/") :]))
            except (ClusterpipeError, OSError) as e:
                return self._run_file_error(e)
            return self._send(200, body, "image/jpeg", {"Cache-Control": "private, max-age=3600"})
        if path.startswith("/face/"):
            try:
                with self.server.actions:
                    crop = self.server.review.crop(unquote(path[len("/face/") :]))
            except (ClusterpipeError, OSError) as e:
                return self._run_file_error(e)
            if crop is None:
                return self._error(HTTPStatus.NOT_FOUND, "no such face")
            ctype = CONTENT_TYPES.get(crop.suffix.lower(), "application/octet-stream")
            try:
                body = crop.read_bytes()
            except OSError:
                return self._error(HTTPStatus.NOT_FOUND, "the crop moved; reload")
            return self._send(200, body, ctype, {"Cache-Control": "private, max-age=3600"})
        return self._error(HTTPStatus.NOT_FOUND, "not found")

    def _post(self) -> None:
        why = self._refused()
        if why:
            return self._error(HTTPStatus.FORBIDDEN, why)
        if (self.headers.get("Content-Type") or "").split(";")[0].strip() != "application/json":
            return self._error(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send application/json")
        if self.headers.get("Transfer-Encoding"):  # its body would be read as the next request
            self.close_connection = True
            return self._error(HTTPStatus.LENGTH_REQUIRED, "send the body with a Content-Length")
        given = (self.headers.get("Content-Length") or "0").strip()
        if not (given.isascii() and given.isdigit()):
            self.close_connection = True  # where the body ends is unknown
            return self._error(HTTPStatus.BAD_REQUEST, "Content-Length is not a number")
        length = int(given)
        if length > MAX_BODY:
            self.close_connection = True
            return self._error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "body too large")
        raw = self.rfile.read(length) or b"{}"
        if len(raw) < length:
            self.close_connection = True
            return self._error(HTTPStatus.BAD_REQUEST, "the body ended early")
        if nesting(raw) > MAX_DEPTH:
            return self._error(HTTPStatus.BAD_REQUEST, f"the body nests over {MAX_DEPTH} levels")
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError):
            return self._error(HTTPStatus.BAD_REQUEST, "the body is not JSON")
        if not isinstance(body, dict):
            return self._error(HTTPStatus.BAD_REQUEST, "the body must be a JSON object")
        routes = {
            "/api/move": lambda r: r.move(body.get("faces"), body.get("to")),
            "/api/rename": lambda r: r.rename(body.get("folder"), body.get("to")),
            "/api/reject": lambda r: r.reject(body.get("faces")),
            "/api/split": lambda r: r.split(body.get("folder"), body.get("into")),
            "/api/noise": lambda r: r.to_noise(body.get("faces")),
            "/api/recluster": lambda r: r.recluster(),
            "/api/undo": lambda r: r.undo(),
            "/api/answer": lambda r: answer(r, body.get("id"), body.get("answer")),
            "/api/apart": lambda r: keep_apart(r, body.get("folder"), body.get("person")),
        }
        route = routes.get(urlsplit(self.path).path)
        if route is None:
            return self._error(HTTPStatus.NOT_FOUND, "not found")
        return self._call(route)

    def _call(self, action) -> None:
        seen = self.headers.get("X-Clusterpipe-Seen") or ""
        try:
            with self.server.actions:
                self.server.review.seen = (
                    int(seen) if seen.isascii() and seen.isdigit() and len(seen) < 12 else None
                )
                result = action(self.server.review)
        except BusyError:
            return self._error(
                HTTPStatus.CONFLICT,
                "busy: another clusterpipe command is using this folder; try again when it ends",
            )
        except BadNameError as e:
            return self._error(HTTPStatus.BAD_REQUEST, str(e))
        except StalePage as e:  # 409: the page shows the folders as they are now
            return self._error(HTTPStatus.CONFLICT, str(e))
        except (StoreError, OSError) as e:
            return self._run_file_error(e)
        except ClusterpipeError as e:
            return self._error(HTTPStatus.BAD_REQUEST, " ".join(str(e).split()))
        return self._json(200, result)

    def _known(self, fid: str):
        """True for a face of this run; otherwise the answer already sent (404, or 409)."""
        try:
            self.server.review._load()
        except (ClusterpipeError, OSError) as e:
            return self._run_file_error(e)
        if fid in self.server.review.by_id:
            return True
        return self._error(HTTPStatus.NOT_FOUND, "no such face")

    def _run_file_error(self, e: Exception) -> None:
        """A run file that vanished, is damaged or is in the way: 409, naming it."""
        if isinstance(e, OSError) and not isinstance(e, ConnectionError):
            what = f"{e.filename}: {e.strerror or e}" if e.filename else str(e)
            message = f"{what}; the run's files changed while the page was open: reload"
        else:
            message = " ".join(str(e).split())
        return self._error(HTTPStatus.CONFLICT, message)


class _Deadline:
    """The request's reader, with the socket's timeout set to what is left of the request's
    deadline before each read: a client that trickles bytes cannot hold a thread for long."""

    def __init__(self, raw, handler: _Handler) -> None:
        self._raw, self._handler = raw, handler

    def _arm(self) -> None:
        left = self._handler.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the request took too long")
        self._handler.connection.settimeout(left)

    def readline(self, *args):
        self._arm()
        return self._raw.readline(*args)

    def read(self, *args):
        self._arm()
        return self._raw.read(*args)

    def __getattr__(self, name: str):
        return getattr(self._raw, name)
