"""``python -m deploy.pages [--check]``: write (or check) every page's ``<head>``.

The rows every page starts with (the stylesheet, the icon, the viewport, the one module the
page runs) are written once, in ``web/templates/head.html``; each page under ``web/public``
keeps only its own title and module, which this fills in. The pages stay plain static files
with no inline script, as the Content-Security-Policy requires; ``--check`` (run by
tests/unit/deploy/test_pages.py) fails on a page whose head has drifted from the template.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

WEB = Path(__file__).resolve().parents[1] / "web"
TEMPLATE = WEB / "templates" / "head.html"
PUBLIC = WEB / "public"

_TITLE = re.compile(r"<title>(?P<title>[^<]*?) · Rapport</title>")
_MODULE = re.compile(r'<script type="module" src="/js/(?P<module>[\w-]+)\.js"></script>')
_HEAD_END = "</head>\n"


class PageError(ValueError):
    """A page the template cannot be applied to (no title or no module to keep)."""


def render(page: str, template: str) -> str:
    """``page`` with everything up to its ``</head>`` written from ``template``."""
    head, found, body = page.partition(_HEAD_END)
    title, module = _TITLE.search(head), _MODULE.search(head)
    if not found or title is None or module is None:
        raise PageError("needs a <title>… · Rapport</title>, a /js/ module and </head>")
    return template.format(title=title["title"], module=module["module"]) + body


def stale_pages(public: Path = PUBLIC, template: Path = TEMPLATE) -> list[Path]:
    """The pages whose head differs from the template's (written by :func:`write_pages`)."""
    text = template.read_text()
    return [
        p for p in sorted(public.rglob("*.html")) if render(p.read_text(), text) != p.read_text()
    ]


def write_pages(public: Path = PUBLIC, template: Path = TEMPLATE) -> list[Path]:
    """Rewrite every stale page's head from the template; returns the pages written."""
    text = template.read_text()
    stale = stale_pages(public, template)
    for page in stale:
        page.write_text(render(page.read_text(), text))
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if a page's head is stale")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_pages()
        for page in stale:
            print(
                f"{page.relative_to(WEB)}: head differs from templates/head.html", file=sys.stderr
            )
        if stale:
            print("run: python -m deploy.pages", file=sys.stderr)
        return 1 if stale else 0
    for page in write_pages():
        print(f"wrote {page.relative_to(WEB)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
