"""The document's hash and what counts as a signature's typed name (pure rules, no I/O)."""

from __future__ import annotations

import hashlib
import unicodedata

# What names have between their letters (letters and combining marks of any script pass).
NAME_PUNCTUATION = frozenset(" -'.’")


def document_hash(text: str) -> str:
    """Hex SHA-256 of the document's UTF-8 text: what a signature says the client read."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def typed_name(value: str) -> str:
    """A signature's typed name, with its spaces collapsed, or ValueError.

    A person's name as they would write it: letters (any script) and the spaces, hyphens,
    apostrophes and full stops between them, at least two letters. Digits, symbols and a lone
    initial are refused. This guards against slips; who signed is proven by the token.
    """
    name = " ".join(unicodedata.normalize("NFC", value).split())
    letters = sum(1 for char in name if unicodedata.category(char).startswith("L"))
    if letters < 2:
        raise ValueError("type your full name (at least two letters)")
    for char in name:
        if not (unicodedata.category(char).startswith(("L", "M")) or char in NAME_PUNCTUATION):
            raise ValueError("a name has letters, spaces, hyphens, apostrophes and full stops only")
    return name
