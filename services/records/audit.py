"""The audit log's hash chain: each entry's hash covers its fields and the previous hash.

Changing any stored field of an entry breaks its own hash; deleting an entry breaks the link
from the next one (its ``prev_hash`` and the gap in ids). Deleting the newest entries leaves
a shorter valid chain, which only an external copy of the head hash reveals; ``verify``
returns the head so operators can keep one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass

from services.records.models import AuditEntry

GENESIS = "0" * 64


def entry_hash(entry: AuditEntry, prev_hash: str) -> str:
    """The SHA-256 of the entry's fields (canonical JSON) and the previous entry's hash."""
    fields = [
        entry.id,
        entry.at.isoformat(),
        str(entry.actor_id) if entry.actor_id else None,
        entry.actor_subject,
        entry.actor_role,
        entry.action,
        entry.resource_type,
        entry.resource_id,
        entry.origin,
        entry.reason,
        prev_hash,
    ]
    canonical = json.dumps(fields, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def seal(entry: AuditEntry, entry_id: int, prev_hash: str) -> str:
    """Give a new entry its place in the chain; returns its hash (the next entry's prev)."""
    entry.id = entry_id
    entry.prev_hash = prev_hash
    entry.entry_hash = entry_hash(entry, prev_hash)
    return entry.entry_hash


@dataclass(frozen=True)
class Problem:
    entry_id: int
    what: str


@dataclass
class Verification:
    checked: int = 0
    head: str = GENESIS
    last_id: int = 0
    problems: list[Problem] | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(entries: Iterable[AuditEntry], state: Verification | None = None) -> Verification:
    """Walk entries in id order (in pages, passing ``state`` on) and report every break."""
    state = state or Verification(problems=[])
    problems = state.problems if state.problems is not None else []
    state.problems = problems
    for entry in entries:
        assert entry.id is not None
        if entry.entry_hash is None:
            if state.checked:  # unsealed entries only before the chain began (pre-0002)
                problems.append(Problem(entry.id, "not sealed"))
            state.last_id = entry.id
            continue
        if state.checked and entry.id != state.last_id + 1:
            problems.append(
                Problem(entry.id, f"entries {state.last_id + 1}..{entry.id - 1} missing")
            )
        if entry.prev_hash != state.head:
            problems.append(Problem(entry.id, "previous entry changed or deleted"))
        if entry_hash(entry, entry.prev_hash or GENESIS) != entry.entry_hash:
            problems.append(Problem(entry.id, "entry changed"))
        state.head = entry.entry_hash
        state.last_id = entry.id
        state.checked += 1
    return state
