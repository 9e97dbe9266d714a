"""Artifact keys: the same rules for the local directory and the S3 bucket."""

import re

from resources.errors import InvalidKeyError

_SEGMENT = re.compile(r"^[A-Za-z0-9._=+@-]+$")


def validate_key(key: str) -> str:
    """Return ``key`` if it is a clean relative path, else raise ``InvalidKeyError`` saying why.

    Keys become both file paths and S3 object keys, so anything that could escape the root
    (``..``, absolute paths, backslashes) or that S3 and a filesystem would treat differently
    (empty segments, odd characters) is refused.
    """
    if not isinstance(key, str) or not key:
        raise InvalidKeyError(f"artifact key must be a non-empty string, got {key!r}")
    if key.startswith("/"):
        raise InvalidKeyError(f"artifact key {key!r} is absolute; use a relative key like 'raw/x'")
    if "\\" in key:
        raise InvalidKeyError(f"artifact key {key!r} contains a backslash; use '/' between parts")
    for segment in key.split("/"):
        if segment == "":
            raise InvalidKeyError(
                f"artifact key {key!r} has an empty segment ('//' or a trailing '/')"
            )
        if segment in (".", ".."):
            raise InvalidKeyError(
                f"artifact key {key!r} contains {segment!r}, which is not allowed"
            )
        if not _SEGMENT.match(segment):
            raise InvalidKeyError(
                f"artifact key {key!r}: segment {segment!r} may only use letters, digits and ._=+@-"
            )
    return key


def validate_prefix(prefix: str) -> str:
    """A listing prefix: empty (everything) or a key, optionally ending in '/'."""
    if prefix == "":
        return prefix
    validate_key(prefix.rstrip("/") if prefix.endswith("/") else prefix)
    return prefix
