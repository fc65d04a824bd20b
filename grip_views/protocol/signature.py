"""``Grip-Sig`` verification: pure, framework-free.

A GRIP proxy signs every request it forwards with a JWT (HS256 with a shared
secret for Pushpin, ES256 or RS256 with a published key for Fastly Fanout).
The algorithm is pinned to the type of the key, so neither ``alg: none`` nor
an HS256 token made with a public key as the secret can pass.

Pushpin signs with claims ``{"iss", "exp": now + 3600}`` in whole seconds, so
every request forwarded within one second carries the same token. A verifier
remembers a bounded number of exact tokens that verified, and checks ``exp``
again on every reuse; a token that failed is never remembered. That makes the
signature check on the hot path a dictionary look-up.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any

import jwt

from ..exceptions import InvalidVerifyKey, SignatureError

#: Longest token looked at; Pushpin's are ~130 characters, Fanout's under 1 KiB.
MAX_TOKEN_LENGTH = 8192
#: Tokens remembered per verifier (Pushpin makes one per second per instance).
CACHE_SIZE = 512


def is_public_key(key: object) -> bool:
    """Whether ``key`` is meant as a public key rather than an HS256 shared secret.

    The one place that tells them apart: PEM text (``-----BEGIN``), a JWK as
    a dict or as JSON text (``{``), or a ``cryptography`` key object. Any
    other non-empty str or bytes is a shared secret. Only the form is looked
    at; :func:`algorithm_for_key` says whether the key also loads.
    """
    if isinstance(key, (str, bytes, bytearray)):
        head = (key.encode() if isinstance(key, str) else bytes(key)).lstrip()[:10]
        return head.startswith((b"-----BEGIN", b"{"))
    if key is None:
        return False
    if isinstance(key, Mapping):
        return True
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    return isinstance(key, (ec.EllipticCurvePublicKey, rsa.RSAPublicKey))


def algorithm_for_key(key: Any) -> tuple[str, Any]:
    """Return ``(algorithm, key object)`` for a verification key.

    A public key selects its algorithm from its type, never from a token:
    an EC P-256 key is ES256 and an RSA key RS256, whether given as PEM
    text, as a JWK (dict or JSON text) or as a ``cryptography`` object. Any
    other str or bytes is an HS256 shared secret. A key that looks public
    but does not load raises :class:`InvalidVerifyKey`, whose message never
    shows the key.
    """
    if not is_public_key(key):
        if isinstance(key, (str, bytes, bytearray)):
            return "HS256", key.encode() if isinstance(key, str) else bytes(key)
        raise InvalidVerifyKey(
            f"unsupported verify key type {type(key).__name__}: use a shared secret (str or "
            "bytes), a PEM public key, or a JWK"
        )
    if isinstance(key, (str, bytes, bytearray)):
        raw = (key.encode() if isinstance(key, str) else bytes(key)).strip()
        public = _load_jwk(raw) if raw.startswith(b"{") else _load_pem(raw)
    elif isinstance(key, Mapping):
        public = _load_jwk(key)
    else:
        public = key
    from cryptography.hazmat.primitives.asymmetric import ec

    if isinstance(public, ec.EllipticCurvePublicKey):
        if not isinstance(public.curve, ec.SECP256R1):
            raise InvalidVerifyKey(
                f"the EC verify key is on curve {public.curve.name}: ES256 needs a P-256 (secp256r1) key"
            )
        return "ES256", public
    return "RS256", public


def _load_pem(raw: bytes) -> Any:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    first_line = raw.split(b"\n", 1)[0]
    if b"PRIVATE" in first_line:
        raise InvalidVerifyKey(
            "the verify key is a PEM private key: give its public key ('-----BEGIN PUBLIC KEY-----')"
        )
    # Settings often hold the PEM in an indented triple-quoted string.
    raw = b"\n".join(line.strip() for line in raw.splitlines())
    try:
        public = load_pem_public_key(raw)
    except (ValueError, TypeError):
        # cryptography's message does not echo the key, but keep ours plain.
        raise InvalidVerifyKey(
            "the verify key starts like a PEM ('-----BEGIN') but is not a PEM public key that loads"
        ) from None
    if not isinstance(public, (ec.EllipticCurvePublicKey, rsa.RSAPublicKey)):
        raise InvalidVerifyKey(
            f"unsupported verify key type {type(public).__name__}: Grip-Sig is verified with "
            "EC P-256 (ES256) or RSA (RS256) public keys"
        )
    return public


#: The algorithm each kind of JWK is verified with: pinned, never read from a token.
_JWK_ALGORITHMS = {"EC": "ES256", "RSA": "RS256"}


def _load_jwk(jwk: bytes | Mapping[str, Any]) -> Any:
    if not isinstance(jwk, Mapping):
        try:
            jwk = json.loads(jwk)
        except (ValueError, RecursionError):
            raise InvalidVerifyKey(
                "the verify key starts like JSON ('{') but is not valid JSON: a JWK such as "
                '{"kty": "EC", "crv": "P-256", "x": "...", "y": "..."} was expected'
            ) from None
        if not isinstance(jwk, Mapping):  # pragma: no cover - text starting with '{' is an object
            raise InvalidVerifyKey("the verify key's JSON is not an object (a JWK)")
    kty = jwk.get("kty")
    alg = _JWK_ALGORITHMS.get(kty) if isinstance(kty, str) else None
    if kty is None:
        raise InvalidVerifyKey("the verify key is JSON but not a JWK: it has no 'kty' ('EC' or 'RSA')")
    if alg is None:
        hint = " (an 'oct' JWK is a shared secret: set the secret itself)" if kty == "oct" else ""
        raise InvalidVerifyKey(
            f"the verify key is a JWK of kty {kty!r}: only 'EC' (P-256, ES256) and 'RSA' (RS256) "
            f"public keys are accepted{hint}"
        )
    if kty == "EC" and jwk.get("crv") != "P-256":
        raise InvalidVerifyKey(f"the EC JWK has crv {jwk.get('crv')!r}: ES256 needs 'P-256'")
    if "d" in jwk:
        raise InvalidVerifyKey("the JWK holds a private key ('d'): give only its public part")
    if jwk.get("alg", alg) != alg:
        raise InvalidVerifyKey(
            f"the {kty} JWK declares alg {jwk.get('alg')!r}, but {kty} keys verify {alg} here"
        )
    if jwk.get("use", "sig") != "sig":
        raise InvalidVerifyKey(f"the JWK is for use {jwk.get('use')!r}, not 'sig'")
    from jwt.algorithms import ECAlgorithm, RSAAlgorithm

    loader = ECAlgorithm if kty == "EC" else RSAAlgorithm
    try:
        return loader.from_jwk(dict(jwk))
    except (jwt.PyJWTError, ValueError, TypeError, KeyError):
        members = "'x' and 'y'" if kty == "EC" else "'n' and 'e'"
        raise InvalidVerifyKey(
            f"the {kty} JWK does not load: it needs {members} as base64url text of a valid key"
        ) from None


class SignatureVerifier:
    """Checks ``Grip-Sig`` tokens against one or more (key, issuer) pairs."""

    def __init__(self, keys: Iterable[tuple[Any, str | None]], cache_size: int = CACHE_SIZE):
        self._keys = [(*algorithm_for_key(key), iss) for key, iss in keys]
        #: True when some key is configured: only a signed request counts as
        #: proxied. An attribute, not a property: it is read on every request.
        self.required = bool(self._keys)
        self._cache_size = cache_size
        # Pays: bench a1c "token", row stream (1.28x slower without it).
        self._good: dict[str, float] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        algs = ", ".join(alg for alg, _, _ in self._keys) or "none"
        return f"<SignatureVerifier keys=[{algs}]>"

    def is_valid(self, token: str) -> bool:
        """True when ``token`` is unexpired and signed by one of the keys."""
        exp = self._good.get(token)
        if exp is not None:
            if exp > time.time():
                return True
            self._good.pop(token, None)
            return False
        try:
            self.verify(token)
        except SignatureError:
            return False
        return True

    def verify(self, token: str) -> dict[str, Any]:
        """Verify ``token`` fully and return its claims, or raise :class:`SignatureError`."""
        if not self._keys:
            raise SignatureError("no verification key is configured")
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
            raise SignatureError("malformed token")
        reason = "no key matched"
        for alg, key, iss in self._keys:
            try:
                if alg == "HS256":
                    claims = _decode_hs256(token, key)
                else:
                    claims = jwt.decode(
                        token,
                        key,
                        algorithms=[alg],
                        options={"verify_exp": False, "verify_aud": False, "verify_iss": False},
                    )
            except (jwt.PyJWTError, SignatureError) as exc:
                reason = getattr(exc, "reason", None) or f"invalid token ({type(exc).__name__})"
                continue
            exp = claims.get("exp")
            if isinstance(exp, bool) or not isinstance(exp, (int, float)):
                raise SignatureError("token has no numeric exp claim")
            if exp <= time.time():
                raise SignatureError("token expired")
            nbf = claims.get("nbf")
            if isinstance(nbf, (int, float)) and nbf > time.time():
                raise SignatureError("token not yet valid")
            if iss is not None and claims.get("iss") != iss:
                reason = "wrong issuer"
                continue
            self._remember(token, float(exp))
            return claims
        raise SignatureError(reason)

    def _remember(self, token: str, exp: float) -> None:
        with self._lock:
            while len(self._good) >= self._cache_size:
                # Oldest first: dicts keep insertion order.
                self._good.pop(next(iter(self._good)))
            self._good[token] = exp


def _b64url(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _decode_hs256(token: str, key: bytes) -> dict[str, Any]:
    """Check an HS256 compact JWS and return its claims.

    Done here rather than by PyJWT because PyJWT warns on every call with a
    secret shorter than 32 bytes, and Pushpin's stock key is ``changeme``
    (a system check warns about short keys once instead); and because this
    is the cache-miss path of every proxied request.
    """
    try:
        head_b64, body_b64, sig_b64 = token.split(".")
        header = json.loads(_b64url(head_b64))
        signature = _b64url(sig_b64)
        signing_input = f"{head_b64}.{body_b64}".encode("ascii")
    except (ValueError, binascii.Error, UnicodeError, RecursionError):
        # RecursionError: deeply nested JSON, parsed before the signature is checked.
        raise SignatureError("malformed token") from None
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        raise SignatureError("algorithm is not HS256")
    expected = hmac.new(key, signing_input, hashlib.sha256).digest()
    if not hmac.compare_digest(expected, signature):
        raise SignatureError("bad signature")
    try:
        claims = json.loads(_b64url(body_b64))
    except (ValueError, binascii.Error, UnicodeError, RecursionError):
        raise SignatureError("malformed claims") from None
    if not isinstance(claims, dict):
        raise SignatureError("malformed claims")
    return claims


def _b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


_HS256_HEADER = _b64url_encode(b'{"alg":"HS256","typ":"JWT"}')


def sign_hs256(claims: dict[str, Any], key: str | bytes) -> str:
    """An HS256 JWT of ``claims``: what a proxy sends as ``Grip-Sig``, and what
    authenticates a publish to a proxy configured with ``control_iss``."""
    raw_key = key.encode() if isinstance(key, str) else key
    body = _b64url_encode(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{_HS256_HEADER}.{body}"
    sig = hmac.new(raw_key, signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{_b64url_encode(sig)}"
