"""Plain helpers the tests import (fixtures stay in the conftest files)."""

import uuid


def unique_name(stem: str) -> str:
    """A name no other test (or earlier run against the same moto server) uses."""
    return f"{stem}-{uuid.uuid4().hex[:8]}"
