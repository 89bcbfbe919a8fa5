"""The web pages: static files from the web root, served on the paths no API route takes.

The pages are plain HTML, ES modules and CSS (no build step), plus two chart libraries served
from a fixed table into ``node_modules``. A path is only ever looked up when it is made of
plain name segments (no dot segments, no backslashes, no hidden files) and the file it names
lies inside the public folder after resolving links, so no request reaches anything else.
Pages carry a strict Content Security Policy of their own: scripts, styles and connections
from this origin only, nothing inline.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from starlette.responses import FileResponse
from starlette.types import Receive, Scope, Send

from gateway.security import RawHeaders, SecurityHeaders

PAGE_CONTENT_SECURITY_POLICY = (
    b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    b"media-src 'self' blob: mediastream:; connect-src 'self'; frame-ancestors 'none'; "
    b"base-uri 'none'; form-action 'self'; object-src 'none'"
)

CONTENT_TYPES: dict[str, str] = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".json": "application/json",
    ".webmanifest": "application/manifest+json",
    ".txt": "text/plain; charset=utf-8",
}

# The only files served from node_modules: what the pages load, nothing else.
VENDOR_FILES: dict[str, str] = {
    "/vendor/chart.umd.min.js": "chart.js/dist/chart.umd.min.js",
    "/vendor/chartjs-plugin-annotation.min.js": (
        "chartjs-plugin-annotation/dist/chartjs-plugin-annotation.min.js"
    ),
}

# "/", or name segments of letters, digits, "-" and "_", the last one with an optional
# extension: nothing that could climb out of the folder or name a hidden file.
_PAGE_PATH = re.compile(r"/|(?:/[A-Za-z0-9_-]+)+(?:\.[A-Za-z0-9]+)?")
_CSP_HEADER = b"content-security-policy"


def default_web_root() -> Path:
    """The repository's ``web/`` folder, found relative to this package."""
    return Path(__file__).resolve().parent.parent / "web"


class PageSecurityHeaders(SecurityHeaders):
    """The gateway's security headers, with the pages' own Content Security Policy."""

    def apply(self, headers: Sequence[tuple[bytes, bytes]], request_id: bytes) -> RawHeaders:
        """Like :meth:`SecurityHeaders.apply`, with the page policy instead of the API's."""
        return [
            (name, PAGE_CONTENT_SECURITY_POLICY) if name == _CSP_HEADER else (name, value)
            for name, value in super().apply(headers, request_id)
        ]


class WebPages:
    """Finds and serves the file for a page path, or says there is none."""

    def __init__(self, web_root: Path, *, hsts_max_age_seconds: int | None = None) -> None:
        self._public = (web_root / "public").resolve()
        self._modules = (web_root / "node_modules").resolve()
        self.security_headers = PageSecurityHeaders(hsts_max_age_seconds=hsts_max_age_seconds)

    def find(self, method: str, path: str) -> Path | None:
        """The file a GET or HEAD of ``path`` serves, or None."""
        if method not in ("GET", "HEAD"):
            return None
        vendored = VENDOR_FILES.get(path)
        if vendored is not None:
            return _existing_file(self._modules / vendored, self._modules)
        if not _PAGE_PATH.fullmatch(path):
            return None
        if path == "/":
            relative = "index.html"
        elif "." in path.rsplit("/", 1)[-1]:
            relative = path[1:]
        else:
            relative = path[1:] + ".html"
        if Path(relative).suffix not in CONTENT_TYPES:
            return None
        return _existing_file(self._public / relative, self._public)

    async def serve(self, file: Path, scope: Scope, receive: Receive, send: Send) -> None:
        """Send ``file`` (headers only for HEAD); browsers revalidate it on every use."""
        response = FileResponse(
            file,
            media_type=CONTENT_TYPES[file.suffix],
            headers={"cache-control": "no-cache"},
        )
        await response(scope, receive, send)


def _existing_file(candidate: Path, inside: Path) -> Path | None:
    try:
        resolved = candidate.resolve(strict=True)
    except OSError:
        return None
    if not resolved.is_relative_to(inside) or not resolved.is_file():
        return None
    return resolved if resolved.suffix in CONTENT_TYPES else None
