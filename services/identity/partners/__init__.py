"""Partners: partner apps, their OAuth client credentials, and clinicians' grants to them."""

from services.identity.partners.service import PartnerCredentials, Partners

__all__ = ["PartnerCredentials", "Partners"]
