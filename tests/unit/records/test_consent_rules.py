"""What a signature's typed name may be, and the document's hash (pure rules)."""

from __future__ import annotations

import hashlib
import unicodedata

import pytest

from services.records.consent.rules import document_hash, typed_name


@pytest.mark.parametrize(
    ("typed", "kept"),
    [
        ("  Alex   Rivera ", "Alex Rivera"),
        ("Siobhán O'Connor-Ní Bhriain", "Siobhán O'Connor-Ní Bhriain"),
        ("J. R. R. Tolkien", "J. R. R. Tolkien"),
        ("李小龍", "李小龍"),
        ("Nguyễn Văn A", "Nguyễn Văn A"),
        # Decomposed accents (a combining mark after the letter) are names too, kept composed.
        (unicodedata.normalize("NFD", "Zoë Ångström"), "Zoë Ångström"),
    ],
)
def test_names_in_any_script_are_kept_with_their_spaces_collapsed(typed: str, kept: str) -> None:
    assert typed_name(typed) == kept


@pytest.mark.parametrize("typed", ["x", "J.", "1234", "R2D2 Droid", "Bob <script>", "a_b", " - "])
def test_what_is_no_name_is_refused(typed: str) -> None:
    with pytest.raises(ValueError, match="name"):
        typed_name(typed)


def test_the_hash_is_the_sha256_of_the_utf8_text() -> None:
    text = "Consentement à la téléconsultation"
    assert document_hash(text) == hashlib.sha256(text.encode("utf-8")).hexdigest()
    assert document_hash(text) != document_hash(text + " ")
