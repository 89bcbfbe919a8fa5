"""Every page's <head> is the one template's, with the page's own title and module."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from deploy import pages


def test_every_page_head_is_written_from_the_template() -> None:
    assert sorted(pages.PUBLIC.rglob("*.html")), "no pages found"
    assert pages.stale_pages() == []


def _copy(tmp_path: Path) -> tuple[Path, Path]:
    public = tmp_path / "public"
    shutil.copytree(pages.PUBLIC, public, ignore=shutil.ignore_patterns("js", "css"))
    template = tmp_path / "head.html"
    shutil.copy(pages.TEMPLATE, template)
    return public, template


def test_a_page_whose_head_drifted_is_stale_and_rewritten(tmp_path: Path) -> None:
    public, template = _copy(tmp_path)
    page = public / "account.html"
    original = page.read_text()
    page.write_text(original.replace('<link rel="stylesheet" href="/css/app.css">\n', ""))

    assert pages.stale_pages(public, template) == [page]
    assert pages.write_pages(public, template) == [page]
    assert page.read_text() == original
    assert pages.stale_pages(public, template) == []


def test_a_change_to_the_template_reaches_every_page(tmp_path: Path) -> None:
    public, template = _copy(tmp_path)
    template.write_text(template.read_text().replace("</head>", '  <meta name="x">\n</head>'))

    written = pages.write_pages(public, template)

    assert written == sorted(public.rglob("*.html"))
    for page in written:
        head = page.read_text().partition("</head>")[0]
        assert '<meta name="x">' in head
        assert "<title>" in head and '<script type="module" src="/js/' in head


def test_a_page_without_its_own_module_is_refused() -> None:
    with pytest.raises(pages.PageError):
        pages.render("<html><head><title>X · Rapport</title></head>\n<body>", "{title}{module}")
