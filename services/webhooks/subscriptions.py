"""Which events an endpoint subscribes to: full catalog types, short names, or patterns.

A selector is matched (shell-style: ``*``, ``?``, ``[...]``) against both the full type
(``rapport.records.session.completed.v1``) and its short name (``session.completed``), so
``"*"``, ``"session.*"``, ``"session.completed"`` and the full type all select that event.
"""

from __future__ import annotations

from collections.abc import Iterable
from fnmatch import fnmatchcase

from shared.events.catalog import catalog_types


def short_name(event_type: str) -> str:
    """``rapport.<producer>.<name...>.v<N>`` → ``<name...>`` (what partners see as ``type``)."""
    parts = event_type.split(".")
    if len(parts) >= 4 and parts[0] == "rapport" and parts[-1].startswith("v"):
        return ".".join(parts[2:-1])
    return event_type


def selects(selector: str, event_type: str) -> bool:
    """Whether one selector picks ``event_type``."""
    return fnmatchcase(event_type, selector) or fnmatchcase(short_name(event_type), selector)


def subscribes_to(selectors: Iterable[str], event_type: str) -> bool:
    """Whether any of an endpoint's selectors picks ``event_type``."""
    return any(selects(selector, event_type) for selector in selectors)


def unknown_selectors(selectors: Iterable[str]) -> list[str]:
    """The selectors that pick no event type in the catalog (typos, wrong versions)."""
    known = catalog_types()
    return [s for s in selectors if not any(selects(s, event_type) for event_type in known)]
