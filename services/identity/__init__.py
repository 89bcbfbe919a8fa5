"""Identity: user accounts, roles and credentials, signing keys, token issuing, and the JWKS.

Identity is the only service that holds private keys. It signs short-lived Ed25519 access
and signaling tokens and publishes the public halves at ``/.well-known/jwks.json``; every
other service verifies with those public keys only. It publishes ``UserRegistered`` through
its outbox and consumes no events yet.
"""
