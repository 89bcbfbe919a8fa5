"""How every API spells time: ISO 8601 days and instants, IANA time zone names.

pydantic also reads a number (or a numeric string) as seconds since 1970 where a date or a
datetime is expected; these types take ISO 8601 text only, as the OpenAPI documents say.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated

from pydantic import AwareDatetime, BeforeValidator, Field

# The form of a zone name in the tz database; whether the name exists is the server's
# zoneinfo's to say (the schema cannot list a database that changes with each release).
IANA_NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$"

TimeZoneName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=IANA_NAME_PATTERN,
        description="IANA time zone name, e.g. Europe/Paris",
        examples=["Europe/Paris"],
    ),
]

_ISO_DATE_START = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _iso_8601(value: object) -> object:
    if not isinstance(value, str) or not _ISO_DATE_START.match(value):
        raise ValueError("must be ISO 8601 text, e.g. 2030-03-04 or 2030-03-04T09:00:00Z")
    return value


IsoDate = Annotated[date, BeforeValidator(_iso_8601)]
# Aware only: a naive time means a different instant in every time zone.
IsoDateTime = Annotated[AwareDatetime, BeforeValidator(_iso_8601)]
