"""The partner scopes the contract lists are exactly the ones the services check."""

from __future__ import annotations

import re
from pathlib import Path

from shared.scopes import PartnerScope

CONTRACTS = Path(__file__).parents[3] / "docs" / "contracts.md"


def test_the_contract_lists_every_partner_scope_and_no_other():
    text = " ".join(CONTRACTS.read_text().split())
    listed = re.search(r"Scopes: (.*?); a call needing another scope", text)
    assert listed is not None, "docs/contracts.md no longer lists the partner scopes"
    assert re.findall(r"`([a-z]+:[a-z]+)`", listed.group(1)) == [s.value for s in PartnerScope]
