"""Web tokens (``puli_mesh.web.auth``): made from a user's key, checked with the cluster's."""

from __future__ import annotations

import pytest
import zmq

from puli_mesh.errors import TokenError
from puli_mesh.web import auth

NOW = 1_800_000_000.0


@pytest.fixture(scope="module")
def keys() -> dict[str, tuple[bytes, bytes]]:
    return {name: zmq.curve_keypair() for name in ("user", "other", "cluster", "foreign")}


def token(keys: dict[str, tuple[bytes, bytes]], user: str = "user", cluster: str = "cluster",
          expires_at: int = int(NOW) + 3600) -> str:
    public, secret = keys[user]
    return auth.make_token(secret, public, keys[cluster][0], expires_at)


def read(keys: dict[str, tuple[bytes, bytes]], text: str, now: float = NOW) -> auth.TokenClaim:
    public, secret = keys["cluster"]
    return auth.read_token(text, secret, public, now)


def test_a_token_reads_back_as_its_key_and_expiry(keys: dict[str, tuple[bytes, bytes]]) -> None:
    text = token(keys)
    assert len(text) <= auth.TOKEN_LENGTH and text.startswith("pmt1.")
    assert read(keys, text) == auth.TokenClaim(keys["user"][0].decode(), int(NOW) + 3600)


def test_a_token_is_url_and_cookie_safe(keys: dict[str, tuple[bytes, bytes]]) -> None:
    assert set(token(keys)) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


def test_a_token_for_another_cluster_is_refused(keys: dict[str, tuple[bytes, bytes]]) -> None:
    with pytest.raises(TokenError, match="another cluster"):
        read(keys, token(keys, cluster="foreign"))


def test_an_expired_token_is_refused(keys: dict[str, tuple[bytes, bytes]]) -> None:
    text = token(keys, expires_at=int(NOW) + 10)
    read(keys, text, now=NOW + 9)
    with pytest.raises(TokenError, match="expired"):
        read(keys, text, now=NOW + 10)


def test_a_token_valid_beyond_thirty_days_is_refused(keys: dict[str, tuple[bytes, bytes]]) -> None:
    with pytest.raises(TokenError, match="30 days"):
        read(keys, token(keys, expires_at=int(NOW) + auth.MAX_TOKEN_SECONDS + 3600))


@pytest.mark.parametrize("part", [1, 2, 3])
def test_a_tampered_token_is_refused(keys: dict[str, tuple[bytes, bytes]], part: int) -> None:
    pieces = token(keys).split(".")
    if part == 2:
        pieces[2] = str(int(pieces[2]) + 60)  # a longer life
    else:
        pieces[part] = ("A" if pieces[part][0] != "A" else "B") + pieces[part][1:]
    with pytest.raises(TokenError):
        read(keys, ".".join(pieces))


def test_another_users_key_in_a_token_is_refused(keys: dict[str, tuple[bytes, bytes]]) -> None:
    """Swapping in another user's public key (to act as them) breaks the mac."""
    mine = token(keys).split(".")
    theirs = token(keys, user="other").split(".")
    mine[1] = theirs[1]
    with pytest.raises(TokenError, match="does not match"):
        read(keys, ".".join(mine))


@pytest.mark.parametrize("text", ["", "pmt1", "pmt1...", "x" * 5000, "pmt2.a.1.b", "Bearer pmt1.x.1.y"])
def test_garbage_is_refused_with_a_clear_error(keys: dict[str, tuple[bytes, bytes]], text: str) -> None:
    with pytest.raises(TokenError, match="not a web token"):
        read(keys, text)


def test_expiry_after_bounds_the_hours() -> None:
    assert auth.expiry_after(NOW, 12) == int(NOW) + 12 * 3600
    for hours in (0, -1, 721):
        with pytest.raises(TokenError):
            auth.expiry_after(NOW, hours)
