"""The gateway: Rapport's one public entry.

It owns no data. It routes HTTP and WebSocket traffic by path prefix to the services, checks
access tokens at the edge, rate limits login, and puts security headers on every response.
"""
