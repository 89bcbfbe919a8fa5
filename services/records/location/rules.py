"""ISO 3166 codes, phone numbers and the jurisdiction check (pure rules, no I/O)."""

from __future__ import annotations

from collections.abc import Collection

import phonenumbers
import pycountry


def country_code(value: str) -> str:
    """An ISO 3166-1 alpha-2 country code, upper-cased, or ValueError."""
    code = value.strip().upper()
    if len(code) != 2 or pycountry.countries.get(alpha_2=code) is None:
        raise ValueError("not an ISO 3166-1 alpha-2 country code (such as US or GB)")
    return code


def region_code(value: str) -> str:
    """An ISO 3166-2 subdivision code (``US-NY``), upper-cased, or ValueError."""
    code = value.strip().upper()
    if pycountry.subdivisions.get(code=code) is None:
        raise ValueError("not an ISO 3166-2 subdivision code (such as US-NY or GB-ENG)")
    return code


def region_in_country(region: str, country: str) -> bool:
    return region.split("-", 1)[0] == country


def e164_phone(value: str, country: str | None) -> str:
    """A phone number in E.164, read as dialled from ``country`` when it has no ``+``."""
    try:
        number = phonenumbers.parse(value, country)
    except phonenumbers.NumberParseException as exc:
        raise ValueError("not a phone number") from exc
    if not phonenumbers.is_valid_number(number):
        raise ValueError("not a valid phone number (give it with its country code, +1 ...)")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def outside_jurisdictions(region: str, licensed: Collection[str]) -> bool:
    """Whether the clinician is not licensed where the client is (no regions on file: the
    clinician has not said, which the warning must not hide)."""
    return region not in licensed


def countries() -> list[tuple[str, str]]:
    """Every ISO 3166-1 country as (alpha-2 code, common name), by name."""
    found = [
        (country.alpha_2, getattr(country, "common_name", country.name))
        for country in pycountry.countries
    ]
    return sorted(found, key=lambda pair: pair[1])


def regions(country: str) -> list[tuple[str, str, str]]:
    """A country's ISO 3166-2 subdivisions as (code, name, type), by name (ValueError for a
    code that is not a country's)."""
    code = country_code(country)
    found = pycountry.subdivisions.get(country_code=code) or []
    return sorted(((s.code, s.name, s.type) for s in found), key=lambda subdivision: subdivision[1])
