"""Web tokens: a user's key turned into a bearer token any agent can check, with no round trip.

A token is made on the user's machine from their key file (``puli-mesh keys token``) and
checked by any agent with the cluster's secret key::

    pmt1.<user public key>.<expiry, epoch seconds>.<mac>

The public key and the mac are URL-safe base64 without padding (43 characters each), so a
token goes unchanged into a cookie, a header or a URL (Z85, the keys' usual text, holds ``.``,
``/``, ``?``, ``&``, ``#`` and ``%``). The mac is HMAC-SHA256 keyed by the X25519 shared secret
of (user secret key, cluster public key) -- equal to that of (cluster secret key, user public
key), which is how an agent checks it -- over a domain string, the cluster's public key, the
user's public key and the expiry. CURVE keys are X25519 keys, so both halves are already in
the files: the user's key file names the cluster's public key, the agents' keys directory
holds the cluster's secret.

Guarantees: pure (no I/O, no clock: ``now`` is an argument); :func:`read_token` refuses, with
:class:`~puli_mesh.errors.TokenError` saying why, a token longer than :data:`TOKEN_LENGTH`
(before any cryptography), malformed, made for another cluster, expired, valid for longer than
:data:`MAX_TOKEN_SECONDS`, or whose mac does not match (compared in constant time). A token
names a key, never a name or a role: who that key is, and whether it is still live, is the
registry's answer at each use (so revoking a key kills its tokens at once).

Not here: looking the key up in the registry (``node.security``), cookies and headers
(``web.app``), reading a key file (``puli_mesh.keys``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import struct
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from zmq.utils import z85

from puli_mesh.errors import TokenError
from puli_mesh.keys import KeyPair

TOKEN_PREFIX = "pmt1"
"""The token format's name and version."""
TOKEN_DOMAIN = "puli-mesh web token"
"""What the mac is for: a mac made for something else with the same keys never passes as a token."""
MAX_TOKEN_SECONDS = 30 * 86_400
"""The longest a token may be valid (30 days)."""
DEFAULT_TOKEN_HOURS = 12.0
CLOCK_SKEW_SECONDS = 300
"""How far the maker's clock may run ahead of the checker's when the token is made for the maximum."""
TOKEN_LENGTH = 120
"""The most characters a token may have (one is about 100): longer is refused unread."""

_TOKEN = re.compile(rf"{TOKEN_PREFIX}\.([A-Za-z0-9_-]{{43}})\.([0-9]{{1,12}})\.([A-Za-z0-9_-]{{43}})\Z")


@dataclass(frozen=True, slots=True)
class TokenClaim:
    """What a valid token says: the key it was made with (Z85 text, as the registry knows keys)
    and when it expires (epoch seconds)."""

    public_key: str
    expires_at: int


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _raw_key(z85_key: bytes | str, what: str) -> bytes:
    """The 32 bytes of a Z85 CURVE key; TokenError naming ``what`` when it is not one."""
    text = z85_key.encode("ascii") if isinstance(z85_key, str) else z85_key
    try:
        raw = z85.decode(text)
    except (ValueError, KeyError, TypeError, struct.error) as exc:
        raise TokenError(f"{what} is not a Z85 CURVE key") from exc
    if len(raw) != 32:
        raise TokenError(f"{what} is not a 32-byte CURVE key")
    return raw


def _mac(shared: bytes, cluster_public: bytes, user_public: bytes, expires_at: int) -> bytes:
    subject = json.dumps([TOKEN_DOMAIN, _b64(cluster_public), _b64(user_public), expires_at]).encode()
    return hmac.new(shared, subject, hashlib.sha256).digest()


def _shared(secret: bytes, public: bytes) -> bytes:
    try:
        return X25519PrivateKey.from_private_bytes(secret).exchange(X25519PublicKey.from_public_bytes(public))
    except ValueError as exc:  # a low-order public key gives an all-zero secret: refused
        raise TokenError("the key exchange failed (not a usable public key)") from exc


def make_token(user_secret: bytes, user_public: bytes, cluster_public: bytes, expires_at: int) -> str:
    """A token for the user key (``user_secret``, ``user_public``: Z85, as in its key file) on
    the cluster whose public key is ``cluster_public`` (Z85), valid until ``expires_at``."""
    if isinstance(expires_at, bool) or not isinstance(expires_at, int) or expires_at <= 0:
        raise TokenError(f"a token's expiry is a positive whole number of seconds, got {expires_at!r}")
    secret = _raw_key(user_secret, "the user's secret key")
    public = _raw_key(user_public, "the user's public key")
    cluster = _raw_key(cluster_public, "the cluster's public key")
    mac = _mac(_shared(secret, cluster), cluster, public, expires_at)
    return f"{TOKEN_PREFIX}.{_b64(public)}.{expires_at}.{_b64(mac)}"


def expiry_after(now: float, hours: float) -> int:
    """The expiry of a token made at ``now`` for ``hours``; TokenError outside (0, 30 days]."""
    if not 0 < hours * 3600 <= MAX_TOKEN_SECONDS:
        raise TokenError(f"a token lasts more than 0 and at most {MAX_TOKEN_SECONDS // 3600} hours, got {hours}")
    return int(now + hours * 3600)


def read_token(token: str, cluster_secret: bytes, cluster_public: bytes, now: float) -> TokenClaim:
    """The claim of ``token`` checked with the cluster's keys (Z85) at ``now``; TokenError why not."""
    if not isinstance(token, str) or len(token) > TOKEN_LENGTH:
        raise TokenError("not a web token (too long, or not text)")
    match = _TOKEN.match(token)
    if match is None:
        raise TokenError(f"not a web token: expected {TOKEN_PREFIX}.KEY.EXPIRY.MAC (from `puli-mesh keys token`)")
    public, mac = _unb64(match[1]), _unb64(match[3])
    expires_at = int(match[2])
    if len(public) != 32 or len(mac) != 32:
        raise TokenError("not a web token: a key or mac of the wrong size")
    if expires_at <= now:
        raise TokenError("the token has expired: make a new one with `puli-mesh keys token`")
    if expires_at - now > MAX_TOKEN_SECONDS + CLOCK_SKEW_SECONDS:
        raise TokenError(f"the token claims to be valid for more than {MAX_TOKEN_SECONDS // 86_400} days")
    cluster = _raw_key(cluster_public, "the cluster's public key")
    expected = _mac(_shared(_raw_key(cluster_secret, "the cluster's secret key"), public), cluster, public,
                    expires_at)
    if not hmac.compare_digest(expected, mac):
        raise TokenError("the token does not match this cluster's key (made for another cluster, or altered)")
    return TokenClaim(z85.encode(public).decode("ascii"), expires_at)



def token_for(key: KeyPair, now: float, hours: float = DEFAULT_TOKEN_HOURS) -> tuple[str, int]:
    """A token for a user's key file (``keys.load_client_key``: its secret and the cluster's
    public key), made at ``now`` for ``hours``; the token and its expiry. What
    ``puli-mesh keys token`` prints; a script may call it with ``client_key_from_environment()``."""
    if key.secret_key is None or key.server_key is None:
        raise TokenError(f"{key.public_file}: a token is made from a client key file (its secret half, "
                         "naming the cluster's public key)")
    expires_at = expiry_after(now, hours)
    return make_token(key.secret_key, key.public_key, key.server_key, expires_at), expires_at
