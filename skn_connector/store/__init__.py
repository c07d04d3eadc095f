"""Durable state behind one interface: inbox, outbox, conversations, quarantine, audit."""

from .db import Store, open_configured_store, open_store

__all__ = ["Store", "open_configured_store", "open_store"]
