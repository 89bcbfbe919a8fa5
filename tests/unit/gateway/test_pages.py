"""The web pages the gateway serves beside the API: files, types, traversal, and the CSP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from gateway.pages import PAGE_CONTENT_SECURITY_POLICY, VENDOR_FILES, WebPages, default_web_root
from gateway.security import API_CONTENT_SECURITY_POLICY
from gateway.settings import GatewaySettings
from tests.support.tokens import TestTokenIssuer
from tests.unit.gateway.conftest import EchoUpstream, Gateway, gateway_settings, serve_gateway

PAGE_CSP = PAGE_CONTENT_SECURITY_POLICY.decode()


@pytest.fixture(scope="module")
def web_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("web")
    public = root / "public"
    (public / "js").mkdir(parents=True)
    (public / "css").mkdir()
    (public / "index.html").write_text("<!doctype html><title>Sign in</title>")
    (public / "clinician.html").write_text("<!doctype html><title>Dashboard</title>")
    (public / "js" / "app.js").write_text("export const answer = 42;\n")
    (public / "css" / "app.css").write_text("body { margin: 0; }\n")
    (public / "notes.unknown").write_text("not a served type")
    (public / ".env").write_text("SECRET=1")
    (root / "secret.html").write_text("outside the public folder")
    (public / "linked.html").symlink_to(root / "secret.html")
    for target in VENDOR_FILES.values():
        file = root / "node_modules" / target
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text("/* vendored */")
    (root / "node_modules" / "chart.js" / "package.json").write_text("{}")
    return root


@pytest.fixture(scope="module")
async def site(
    web_root: Path, token_issuer: TestTokenIssuer, echo_upstream: EchoUpstream
) -> AsyncIterator[Gateway]:
    settings = gateway_settings(
        web_root=web_root,
        identity_url=echo_upstream.url,
        records_url=echo_upstream.url,
        webhooks_url=echo_upstream.url,
        signaling_urls=[echo_upstream.url],
    )
    served = await serve_gateway(settings, token_issuer)
    yield Gateway(served)
    await served.stop()


@pytest.fixture
async def browser(site: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=site.url, timeout=10.0) as http:
        yield http


@pytest.mark.parametrize(
    ("path", "content_type", "text"),
    [
        ("/", "text/html; charset=utf-8", "Sign in"),
        ("/index.html", "text/html; charset=utf-8", "Sign in"),
        ("/clinician", "text/html; charset=utf-8", "Dashboard"),
        ("/js/app.js", "text/javascript; charset=utf-8", "answer"),
        ("/css/app.css", "text/css; charset=utf-8", "margin"),
        ("/vendor/chart.umd.min.js", "text/javascript; charset=utf-8", "vendored"),
        ("/vendor/chartjs-plugin-annotation.min.js", "text/javascript; charset=utf-8", "vendored"),
    ],
)
async def test_pages_and_assets_are_served_with_their_content_type(
    browser: httpx.AsyncClient, path: str, content_type: str, text: str
) -> None:
    response = await browser.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == content_type
    assert text in response.text


async def test_pages_carry_the_strict_page_policy_and_the_other_security_headers(
    browser: httpx.AsyncClient,
) -> None:
    response = await browser.get("/clinician")
    assert response.headers["content-security-policy"] == PAGE_CSP
    assert "'unsafe-inline'" not in PAGE_CSP and "'unsafe-eval'" not in PAGE_CSP
    assert "frame-ancestors 'none'" in PAGE_CSP
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-request-id"]


async def test_head_answers_with_headers_only(browser: httpx.AsyncClient) -> None:
    response = await browser.head("/")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-type"] == "text/html; charset=utf-8"


@pytest.mark.parametrize(
    "path",
    [
        "/../secret.html",
        "/%2e%2e/secret.html",
        "/js/%2e%2e/%2e%2e/secret.html",
        "/js/..%2f..%2fsecret.html",
        "/..%5csecret.html",
        "/.env",
        "/linked.html",
        "/linked",
        "/notes.unknown",
        "/node_modules/chart.js/package.json",
        "/vendor/package.json",
        "/missing",
        "/js",
    ],
)
async def test_nothing_outside_the_public_files_is_served(
    browser: httpx.AsyncClient, path: str
) -> None:
    response = await browser.get(path)
    assert response.status_code == 404
    assert response.json()["error"] == "NotFound"
    assert "outside" not in response.text and "SECRET" not in response.text
    assert response.headers["content-security-policy"] == API_CONTENT_SECURITY_POLICY.decode()


async def test_other_methods_on_pages_are_not_found(browser: httpx.AsyncClient) -> None:
    response = await browser.post("/clinician", content=b"x")
    assert response.status_code == 404
    assert response.json()["error"] == "NotFound"


async def test_api_routes_keep_their_behaviour_and_policy(
    browser: httpx.AsyncClient, token_issuer: TestTokenIssuer
) -> None:
    unauthenticated = await browser.get("/v1/goals")
    assert unauthenticated.status_code == 401
    token = token_issuer.issue("3f1c0e7e-1111-4222-8333-944455556666", "clinician")
    routed = await browser.get("/v1/goals", headers={"Authorization": f"Bearer {token}"})
    assert routed.status_code == 200
    assert routed.json()["path"] == "/v1/goals"
    assert routed.headers["content-security-policy"] == API_CONTENT_SECURITY_POLICY.decode()
    health = await browser.get("/healthz")
    assert health.json()["status"] == "ok"
    assert health.headers["content-security-policy"] == API_CONTENT_SECURITY_POLICY.decode()


def test_find_maps_extensionless_paths_to_html(web_root: Path) -> None:
    pages = WebPages(web_root)
    assert pages.find("GET", "/clinician") == (web_root / "public" / "clinician.html").resolve()
    assert pages.find("HEAD", "/") == (web_root / "public" / "index.html").resolve()
    assert pages.find("DELETE", "/") is None
    assert pages.find("GET", "/clinician/") is None
    assert pages.find("GET", "//clinician") is None


def test_the_default_web_root_is_the_repositorys_web_folder() -> None:
    root = default_web_root()
    assert (root / "package.json").is_file()
    pages = WebPages(root)
    assert pages.find("GET", "/") is not None
    for path in VENDOR_FILES:
        assert pages.find("GET", path) is not None, f"{path}: run `make install`"


def test_the_web_root_is_a_setting(
    monkeypatch: pytest.MonkeyPatch, web_root: Path, no_env: None
) -> None:
    assert GatewaySettings().web_root == default_web_root()
    monkeypatch.setenv("RAPPORT_GATEWAY_WEB_ROOT", str(web_root))
    assert GatewaySettings().web_root == web_root


PUBLIC = default_web_root() / "public"
PAGES = sorted(PUBLIC.rglob("*.html"))
SCRIPTS = sorted((PUBLIC / "js").glob("*.js"))


class _Markup(HTMLParser):
    """The tags of one page, with their attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _tags(page: Path) -> list[tuple[str, dict[str, str | None]]]:
    markup = _Markup()
    markup.feed(page.read_text())
    return markup.tags


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(PUBLIC)))
def test_each_page_takes_its_top_bar_from_the_shared_element(page: Path) -> None:
    tags = _tags(page)
    assert [tag for tag, _ in tags].count("rapport-topbar") == 1
    assert not [
        tag for tag, attrs in tags if tag == "header" or "skip-link" in (attrs.get("class") or "")
    ]
    assert not [attrs for tag, attrs in tags if tag == "a" and attrs.get("class") == "brand"]


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(PUBLIC)))
def test_pages_hold_nothing_the_policy_refuses(page: Path) -> None:
    for tag, attrs in _tags(page):
        assert tag != "style", page
        assert "style" not in attrs, (page, tag)
        assert not [name for name in attrs if name.startswith("on")], (page, tag)
        if tag == "script":
            assert (attrs.get("src") or "").startswith("/"), (page, attrs)


def test_the_call_stage_is_written_once_for_both_sides() -> None:
    stages = [page.name for page in PAGES if "rapport-call-stage" in page.read_text()]
    assert stages == ["clinician.html", "guest.html", "join.html"]
    for page in PAGES:
        assert 'id="remote-video"' not in page.read_text(), page
    assert [script.name for script in SCRIPTS if "remote-video" in script.read_text()] == [
        "call-stage.js"
    ]


def test_the_pages_leave_no_test_hooks_on_window_unless_a_test_asks() -> None:
    for script in SCRIPTS:
        if script.name != "test-hooks.js":
            assert "window.rapport" not in script.read_text(), script
            assert "window[" not in script.read_text(), script
    hooks = (PUBLIC / "js" / "test-hooks.js").read_text()
    assert 'sessionStorage.getItem("rapport.test-hooks") === "on"' in hooks
