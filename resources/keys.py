"""Artifact keys: the same rules for the local directory and the S3 bucket."""

import re

from resources.errors import InvalidKeyError

_SEGMENT = re.compile(r"^[A-Za-z0-9._=+@-]+$")
# a file name may have 255 bytes (ext4, APFS), an S3 key 1,024 (with the store's prefix)
MAX_SEGMENT_CHARS = 200
MAX_KEY_CHARS = 900


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
    if len(key) > MAX_KEY_CHARS:
        raise InvalidKeyError(
            f"artifact key {key[:60]!r}... has {len(key)} characters; at most {MAX_KEY_CHARS}"
        )
    for segment in key.split("/"):
        if segment == "":
            raise InvalidKeyError(
                f"artifact key {key!r} has an empty segment ('//' or a trailing '/')"
            )
        if segment in (".", ".."):
            raise InvalidKeyError(
                f"artifact key {key!r} contains {segment!r}, which is not allowed"
            )
        if len(segment) > MAX_SEGMENT_CHARS:
            raise InvalidKeyError(
                f"artifact key {key[:60]!r}...: a part has {len(segment)} characters; "
                f"at most {MAX_SEGMENT_CHARS}"
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
