"""The review page's local HTTP server: the standard library's http.server on 127.0.0.1, a
token on every request, Host and Origin checked (no CSRF, no DNS rebinding), one action at a
time."""

from __future__ import annotations

import hmac
import json
import logging
import secrets
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from ..errors import BadNameError, BusyError, ClusterpipeError
from .state import Review

log = logging.getLogger("clusterpipe")

TOKEN_HEADER = "X-Clusterpipe-Token"
COOKIE = "clusterpipe_token"
MAX_BODY = 1 << 20  # 1 MiB of JSON holds ~20,000 face ids
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

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/?token={self.token}"


class _Handler(BaseHTTPRequestHandler):
    server: ReviewServer
    server_version = "clusterpipe-review"
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args) -> None:
        log.debug("review: " + format, *args)

    # ---- checks --------------------------------------------------------------------------

    def _token_ok(self) -> bool:
        given = self.headers.get(TOKEN_HEADER)
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
        if path.startswith("/face/"):
            with self.server.actions:
                crop = self.server.review.crop(path[len("/face/") :])
            if crop is None:
                return self._error(HTTPStatus.NOT_FOUND, "no such face")
            ctype = CONTENT_TYPES.get(crop.suffix.lower(), "application/octet-stream")
            try:
                body = crop.read_bytes()
            except OSError:
                return self._error(HTTPStatus.NOT_FOUND, "the crop moved; reload")
            return self._send(200, body, ctype, {"Cache-Control": "private, max-age=3600"})
        return self._error(HTTPStatus.NOT_FOUND, "not found")

    do_HEAD = do_GET

    def do_POST(self) -> None:
        why = self._refused()
        if why:
            return self._error(HTTPStatus.FORBIDDEN, why)
        if (self.headers.get("Content-Type") or "").split(";")[0].strip() != "application/json":
            return self._error(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send application/json")
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY:
            return self._error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "body too large")
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except (ValueError, UnicodeDecodeError):
            return self._error(HTTPStatus.BAD_REQUEST, "the body is not JSON")
        if not isinstance(body, dict):
            return self._error(HTTPStatus.BAD_REQUEST, "the body must be a JSON object")
        routes = {
            "/api/move": lambda r: r.move(body.get("faces"), body.get("to")),
            "/api/rename": lambda r: r.rename(body.get("folder"), body.get("to")),
            "/api/reject": lambda r: r.reject(body.get("faces")),
            "/api/split": lambda r: r.split(body.get("folder")),
            "/api/recluster": lambda r: r.recluster(),
            "/api/undo": lambda r: r.undo(),
        }
        route = routes.get(urlsplit(self.path).path)
        if route is None:
            return self._error(HTTPStatus.NOT_FOUND, "not found")
        return self._call(route)

    def _call(self, action) -> None:
        try:
            with self.server.actions:
                result = action(self.server.review)
        except BusyError:
            return self._error(
                HTTPStatus.CONFLICT,
                "busy: another clusterpipe command is using this folder; try again when it ends",
            )
        except BadNameError as e:
            return self._error(HTTPStatus.BAD_REQUEST, str(e))
        except (ClusterpipeError, OSError) as e:
            return self._error(HTTPStatus.BAD_REQUEST, " ".join(str(e).split()))
        return self._json(200, result)
