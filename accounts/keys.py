"""Secret keys for partner systems and machines: generated once, stored only as a hash.

A key reads ``<kind>_<lookup>_<secret>``. ``lookup`` is stored in clear and indexed, so a
presented key is found with one query; the whole key is compared by its SHA-256 digest in
constant time. Keys carry 256 bits of randomness, so a fast hash is sufficient (as for
GitHub's and Stripe's tokens); a slow password hash would only add latency.
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass


@dataclass(frozen=True)
class NewKey:
    plaintext: str
    lookup: str
    digest: str


def key_digest(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def key_generate(kind: str) -> NewKey:
    lookup = secrets.token_hex(6)
    plaintext = f"{kind}_{lookup}_{secrets.token_urlsafe(32)}"
    return NewKey(plaintext=plaintext, lookup=lookup, digest=key_digest(plaintext))


def key_parse(kind: str, presented: str) -> str | None:
    """The lookup part of a presented key of this kind, or None if it is not shaped like one."""
    parts = presented.split("_", 2)
    if len(parts) != 3 or parts[0] != kind or len(parts[1]) != 12:
        return None
    return parts[1]


def key_matches(presented: str, digest: str) -> bool:
    return hmac.compare_digest(key_digest(presented), digest)
