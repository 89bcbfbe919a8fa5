"""The trusted-proxy setting every process shares: parsed from the environment, typos refused."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.settings import ServiceSettings


def test_nobody_is_trusted_by_default() -> None:
    assert ServiceSettings().trusted_proxies == []


def test_addresses_and_networks_come_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAPPORT_TRUSTED_PROXIES", " 10.0.0.5, 192.0.2.0/24,,2001:db8::/32 ")
    assert ServiceSettings().trusted_proxies == ["10.0.0.5", "192.0.2.0/24", "2001:db8::/32"]
    assert ServiceSettings(trusted_proxies="*").trusted_proxies == ["*"]


@pytest.mark.parametrize("value", ["gateway", "10.0.0.300", "10.0.0.0/33", "*, 10.0.0.5"])
def test_a_typo_stops_the_process_instead_of_trusting_nobody(value: str) -> None:
    # uvicorn would keep an unparsable entry as a literal that never matches: the operator
    # would believe the gateway trusted while every address in the audit log is the gateway's.
    with pytest.raises(ValidationError, match=r"not an IP address or network|list it alone"):
        ServiceSettings(trusted_proxies=value)
