"""Partners: partner apps, their OAuth client credentials and public keys (SMART backend
services), and clinicians' grants to them."""

from services.identity.partners.keys import JwksFetcher
from services.identity.partners.service import PartnerCredentials, Partners

__all__ = ["JwksFetcher", "PartnerCredentials", "Partners"]
