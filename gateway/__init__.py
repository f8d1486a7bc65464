"""The session gateway: NIM-compatible server-side session lists over GraphQL."""

__version__ = "0.1.0"
