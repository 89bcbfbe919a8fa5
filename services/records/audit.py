"""The audit log's hash chain: each entry's hash covers its fields and the previous hash.

Requests append entries unsealed; the sealer (services.records.sealer) later gives each
committed entry its place in the chain (``seq``, 1, 2, 3, …) and its hash. Changing any
stored field of a sealed entry breaks its own hash; deleting one leaves a gap in ``seq`` and
breaks the link from the next one; inserting or reordering sealed entries breaks the links
around them. Deleting the newest entries leaves a shorter valid chain, which only an
external copy of the head hash reveals; ``verify`` returns the head so operators can keep one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass

from services.records.models import AuditEntry

GENESIS = "0" * 64


def entry_hash(entry: AuditEntry, prev_hash: str) -> str:
    """The SHA-256 of the entry's fields (canonical JSON) and the previous entry's hash.

    ``seq`` is not hashed (entries chained before the sealer existed were hashed without
    it): an entry's place is fixed by ``prev_hash``, which is.
    """
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


def seal(entry: AuditEntry, seq: int, prev_hash: str) -> str:
    """Give a committed entry its place in the chain; returns its hash (the next entry's prev)."""
    entry.seq = seq
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
    last_seq: int = 0
    # Committed entries the sealer has not reached yet (not part of the chain verified).
    unsealed: int = 0
    problems: list[Problem] | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(entries: Iterable[AuditEntry], state: Verification | None = None) -> Verification:
    """Walk sealed entries in ``seq`` order (in pages, passing ``state`` on); report every break."""
    state = state or Verification(problems=[])
    problems = state.problems if state.problems is not None else []
    state.problems = problems
    for entry in entries:
        assert entry.id is not None and entry.seq is not None
        if entry.seq != state.last_seq + 1:
            problems.append(
                Problem(entry.id, f"chain entries {state.last_seq + 1}..{entry.seq - 1} missing")
            )
        if entry.prev_hash != state.head:
            problems.append(Problem(entry.id, "previous entry changed or deleted"))
        if entry_hash(entry, entry.prev_hash or GENESIS) != entry.entry_hash:
            problems.append(Problem(entry.id, "entry changed"))
        state.head = entry.entry_hash or GENESIS
        state.last_seq = entry.seq
        state.checked += 1
    return state
