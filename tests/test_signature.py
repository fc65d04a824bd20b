"""Grip-Sig verification (grip_views.protocol.signature): pure, no Django."""

from __future__ import annotations

import ast
import base64
import json
import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from grip_views.exceptions import InvalidVerifyKey, SignatureError
from grip_views.protocol import signature
from grip_views.protocol.signature import SignatureVerifier, algorithm_for_key, sign_hs256

KEY = "a-shared-secret-of-at-least-32-bytes!!"


def claims(ttl: int = 3600, **extra: object) -> dict:
    return {"iss": "pushpin", "exp": int(time.time()) + ttl, **extra}


def pem(public_key) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# -- HS256 (Pushpin) -------------------------------------------------------------
def test_hs256_token_signed_by_pushpin_style_jwt_library_verifies():
    token = jwt.encode(claims(), KEY, algorithm="HS256")
    assert SignatureVerifier([(KEY, "pushpin")]).verify(token)["iss"] == "pushpin"


def test_sign_hs256_makes_tokens_that_pyjwt_accepts():
    token = sign_hs256(claims(), KEY)
    decoded = jwt.decode(token, KEY, algorithms=["HS256"], options={"verify_iss": False})
    assert decoded["iss"] == "pushpin"


def test_bytes_key_and_str_key_are_the_same_secret():
    token = sign_hs256(claims(), KEY.encode())
    assert SignatureVerifier([(KEY, None)]).is_valid(token)


def test_token_signed_with_another_key_is_rejected():
    token = sign_hs256(claims(), "another-secret-of-at-least-32-bytes!!!")
    verifier = SignatureVerifier([(KEY, None)])
    assert not verifier.is_valid(token)
    with pytest.raises(SignatureError, match="bad signature"):
        verifier.verify(token)


def test_tampered_claims_are_rejected():
    head, _, sig = sign_hs256(claims(), KEY).split(".")
    forged = b64url(json.dumps(claims(ttl=999999)).encode())
    assert not SignatureVerifier([(KEY, None)]).is_valid(f"{head}.{forged}.{sig}")


def test_expired_token_is_rejected():
    with pytest.raises(SignatureError, match="expired"):
        SignatureVerifier([(KEY, None)]).verify(sign_hs256(claims(ttl=-1), KEY))


def test_token_without_exp_is_rejected():
    token = sign_hs256({"iss": "pushpin"}, KEY)
    with pytest.raises(SignatureError, match="exp"):
        SignatureVerifier([(KEY, None)]).verify(token)


def test_token_with_non_numeric_exp_is_rejected():
    token = sign_hs256({"exp": "tomorrow"}, KEY)
    assert not SignatureVerifier([(KEY, None)]).is_valid(token)


def test_token_not_yet_valid_is_rejected():
    with pytest.raises(SignatureError, match="not yet valid"):
        SignatureVerifier([(KEY, None)]).verify(sign_hs256(claims(nbf=int(time.time()) + 600), KEY))


def test_wrong_issuer_is_rejected_when_an_issuer_is_configured():
    token = sign_hs256(claims(iss="someone-else"), KEY)
    with pytest.raises(SignatureError, match="wrong issuer"):
        SignatureVerifier([(KEY, "pushpin")]).verify(token)


def test_any_issuer_is_accepted_when_none_is_configured():
    assert SignatureVerifier([(KEY, None)]).is_valid(sign_hs256(claims(iss="whoever"), KEY))


def test_alg_none_token_is_rejected():
    head = b64url(b'{"alg":"none","typ":"JWT"}')
    body = b64url(json.dumps(claims()).encode())
    with pytest.raises(SignatureError):
        SignatureVerifier([(KEY, None)]).verify(f"{head}.{body}.")


@pytest.mark.parametrize(
    "token",
    ["", "not-a-jwt", "a.b", "a.b.c.d", "!!!.???.***", "x" * (signature.MAX_TOKEN_LENGTH + 1)],
)
def test_malformed_tokens_are_rejected_without_crashing(token):
    verifier = SignatureVerifier([(KEY, None)])
    assert not verifier.is_valid(token)
    with pytest.raises(SignatureError):
        verifier.verify(token)


def test_claims_that_are_not_an_object_are_rejected():
    head = b64url(b'{"alg":"HS256","typ":"JWT"}')
    body = b64url(b"[1, 2]")
    import hashlib
    import hmac

    sig = b64url(hmac.new(KEY.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest())
    with pytest.raises(SignatureError, match="malformed claims"):
        SignatureVerifier([(KEY, None)]).verify(f"{head}.{body}.{sig}")


def test_second_configured_key_verifies_when_first_does_not_match():
    other = "the-second-proxy-key-32-bytes-or-more"
    verifier = SignatureVerifier([(KEY, "pushpin"), (other, "fanout")])
    assert verifier.verify(sign_hs256(claims(iss="fanout"), other))["iss"] == "fanout"


def test_verifier_without_keys_is_not_required_and_verifies_nothing():
    verifier = SignatureVerifier([])
    assert verifier.required is False
    assert not verifier.is_valid(sign_hs256(claims(), KEY))


def test_verifier_repr_shows_algorithms_not_keys():
    text = repr(SignatureVerifier([(KEY, None)]))
    assert "HS256" in text
    assert KEY not in text


# -- the cache of good tokens ---------------------------------------------------
def test_remembered_token_is_rejected_once_it_expires(monkeypatch):
    now = time.time()
    token = sign_hs256({"exp": int(now) + 10}, KEY)
    verifier = SignatureVerifier([(KEY, None)])
    assert verifier.is_valid(token)
    monkeypatch.setattr(signature.time, "time", lambda: now + 20)
    assert not verifier.is_valid(token)


def test_failed_token_is_not_remembered_as_good():
    verifier = SignatureVerifier([(KEY, None)])
    bad = sign_hs256(claims(), "wrong-key-wrong-key-wrong-key-wrong!!")
    assert not verifier.is_valid(bad)
    assert not verifier.is_valid(bad)
    assert bad not in verifier._good


def test_cache_of_good_tokens_is_bounded():
    verifier = SignatureVerifier([(KEY, None)], cache_size=3)
    tokens = [sign_hs256(claims(n=n), KEY) for n in range(10)]
    assert all(verifier.is_valid(t) for t in tokens)
    assert len(verifier._good) == 3
    assert verifier.is_valid(tokens[0])  # forgotten, verified again in full


# -- ES256 / RS256 (Fastly Fanout) ------------------------------------------------
def test_es256_token_verifies_with_a_pem_public_key(ec_key):
    token = jwt.encode(claims(iss="fanout"), ec_key, algorithm="ES256")
    verifier = SignatureVerifier([(pem(ec_key.public_key()).decode(), "fanout")])
    assert verifier.verify(token)["iss"] == "fanout"


def test_es256_token_verifies_with_a_bytes_pem_and_with_a_key_object(ec_key):
    token = jwt.encode(claims(), ec_key, algorithm="ES256")
    assert SignatureVerifier([(pem(ec_key.public_key()), None)]).is_valid(token)
    assert SignatureVerifier([(ec_key.public_key(), None)]).is_valid(token)


def test_es256_token_from_another_key_is_rejected(ec_key):
    other = ec.generate_private_key(ec.SECP256R1())
    token = jwt.encode(claims(), other, algorithm="ES256")
    assert not SignatureVerifier([(pem(ec_key.public_key()), None)]).is_valid(token)


def test_rs256_token_verifies_with_a_pem_public_key(rsa_key):
    token = jwt.encode(claims(), rsa_key, algorithm="RS256")
    assert SignatureVerifier([(pem(rsa_key.public_key()), None)]).is_valid(token)


def test_expired_es256_token_is_rejected(ec_key):
    token = jwt.encode(claims(ttl=-5), ec_key, algorithm="ES256")
    with pytest.raises(SignatureError, match="expired"):
        SignatureVerifier([(pem(ec_key.public_key()), None)]).verify(token)


def test_hs256_token_using_the_public_key_as_secret_is_rejected(ec_key):
    """Key confusion: the algorithm comes from the key, never from the token."""
    public_pem = pem(ec_key.public_key())
    forged = sign_hs256(claims(), public_pem)
    assert not SignatureVerifier([(public_pem, None)]).is_valid(forged)


def test_algorithm_is_chosen_from_the_key_type(ec_key, rsa_key):
    assert algorithm_for_key(KEY)[0] == "HS256"
    assert algorithm_for_key(KEY.encode()) == ("HS256", KEY.encode())
    assert algorithm_for_key(pem(ec_key.public_key()))[0] == "ES256"
    assert algorithm_for_key(pem(rsa_key.public_key()).decode())[0] == "RS256"


def test_unsupported_public_key_type_is_refused():
    public = ed25519.Ed25519PrivateKey.generate().public_key()
    with pytest.raises(ValueError, match="unsupported"):
        algorithm_for_key(pem(public))


def test_cryptography_is_an_install_requirement():
    """Without it ES256/RS256 Grip-Sig cannot be checked: it must not be optional."""
    setup = Path(__file__).resolve().parents[1] / "setup.py"
    call = next(
        node
        for node in ast.walk(ast.parse(setup.read_text()))
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "setup"
    )
    requires = next(kw.value for kw in call.keywords if kw.arg == "install_requires")
    names = [ast.literal_eval(e).split(">")[0].split("=")[0].strip() for e in requires.elts]
    assert "cryptography" in names


def test_pem_key_indented_in_settings_still_verifies(ec_key):
    from cryptography.hazmat.primitives import serialization

    pem = ec_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    indented = "\n".join("    " + line for line in pem.decode().splitlines())
    token = jwt.encode({"iss": "fastly:x", "exp": int(time.time()) + 60}, ec_key, algorithm="ES256")
    assert SignatureVerifier([(indented, "fastly:x")]).is_valid(token)


# -- JWK verify keys (Fastly Fanout publishes its key as one) --------------------------------
def jwk_of(public_key) -> dict:
    from jwt.algorithms import ECAlgorithm, RSAAlgorithm

    algorithm = ECAlgorithm if isinstance(public_key, ec.EllipticCurvePublicKey) else RSAAlgorithm
    return json.loads(algorithm.to_jwk(public_key))


def test_es256_token_verifies_with_the_same_key_as_jwk_and_as_pem(ec_key):
    token = jwt.encode(claims(), ec_key, algorithm="ES256")
    public = ec_key.public_key()
    forms = {
        "pem": pem(public),
        "jwk-dict": jwk_of(public),
        "jwk-json": json.dumps(jwk_of(public)),
        "jwk-json-bytes": json.dumps(jwk_of(public), indent=2).encode(),
    }
    other = jwt.encode(claims(), ec.generate_private_key(ec.SECP256R1()), algorithm="ES256")
    for name, key in forms.items():
        verifier = SignatureVerifier([(key, "pushpin")])
        assert verifier.verify(token)["iss"] == "pushpin", name
        assert not verifier.is_valid(other), name
        assert algorithm_for_key(key)[0] == "ES256", name


def test_rs256_token_verifies_with_an_rsa_jwk(rsa_key):
    token = jwt.encode(claims(), rsa_key, algorithm="RS256")
    assert SignatureVerifier([(jwk_of(rsa_key.public_key()), None)]).is_valid(token)
    assert algorithm_for_key(json.dumps(jwk_of(rsa_key.public_key())))[0] == "RS256"


def test_a_jwk_pins_its_algorithm_so_hs256_with_the_jwk_text_is_refused(ec_key):
    text = json.dumps(jwk_of(ec_key.public_key()))
    assert not SignatureVerifier([(text, None)]).is_valid(sign_hs256(claims(), text))


def test_fastly_fanouts_published_jwk_loads_as_es256():
    fanout = {
        "kty": "EC",
        "crv": "P-256",
        "x": "CKo5A1ebyFcnmVV8SE5On-8G81JyBjSvcrx4VLetWCg",
        "y": "7gwJqaU6N8TP88--twjkwoB36f-pT3QsmI46nPhjO7M",
    }
    assert algorithm_for_key(fanout)[0] == "ES256"


@pytest.mark.parametrize(
    ("key", "public"),
    [
        ("changeme", False),
        (b"\x00binary", False),
        ("a secret with -----BEGIN inside", False),
        ("-----BEGIN PUBLIC KEY-----\n...", True),
        ("\n    -----BEGIN PUBLIC KEY-----", True),
        (b"-----BEGIN PUBLIC KEY-----", True),
        ('{"kty": "EC"}', True),
        (b'  {"kty": "EC"}', True),
        ({"kty": "EC"}, True),
        (None, False),
    ],
)
def test_is_public_key_tells_public_keys_from_shared_secrets(key, public):
    assert signature.is_public_key(key) is public


def test_is_public_key_knows_key_objects(ec_key, rsa_key):
    assert signature.is_public_key(ec_key.public_key())
    assert signature.is_public_key(rsa_key.public_key())
    assert not signature.is_public_key(42)


@pytest.mark.parametrize(
    ("key", "match"),
    [
        ('{"kty": "EC", "crv": "P-256", "x": ', "not valid JSON"),
        ("{not json", "not valid JSON"),
        ({"kid": "x"}, "no 'kty'"),
        ({"kty": "oct", "k": "c2VjcmV0"}, "shared secret"),
        ({"kty": "OKP", "crv": "Ed25519", "x": "AA"}, "only 'EC'"),
        ({"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA"}, "P-256"),
        ({"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}, "does not load"),
        ({"kty": "RSA", "e": "AQAB"}, "'n' and 'e'"),
        ("-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----", "not a PEM public key"),
        ("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----", "private key"),
        (42, "unsupported"),
    ],
)
def test_keys_that_look_public_but_do_not_load_are_refused_saying_why(key, match):
    with pytest.raises(InvalidVerifyKey, match=match):
        algorithm_for_key(key)
    with pytest.raises(ValueError):  # InvalidVerifyKey is a ValueError, as this error always was
        SignatureVerifier([(key, None)])


def test_jwk_refusals_for_private_parts_other_algorithms_and_uses(ec_key, rsa_key):
    public = jwk_of(ec_key.public_key())
    with pytest.raises(InvalidVerifyKey, match="private"):
        algorithm_for_key({**public, "d": "AAAA"})
    with pytest.raises(InvalidVerifyKey, match="declares alg 'ES384'"):
        algorithm_for_key({**public, "alg": "ES384"})
    with pytest.raises(InvalidVerifyKey, match="use 'enc'"):
        algorithm_for_key({**public, "use": "enc"})
    assert algorithm_for_key({**public, "alg": "ES256", "use": "sig", "kid": "k1"})[0] == "ES256"
    with pytest.raises(InvalidVerifyKey, match="declares alg 'RS512'"):
        algorithm_for_key({**jwk_of(rsa_key.public_key()), "alg": "RS512"})


def test_ec_pem_on_another_curve_is_refused():
    public = ec.generate_private_key(ec.SECP384R1()).public_key()
    with pytest.raises(InvalidVerifyKey, match="P-256"):
        algorithm_for_key(pem(public))


def test_key_errors_never_show_the_key():
    secret = "SeCrEtMaTeRiAl"
    for key in (
        "{" + secret,
        {"kty": "EC", "crv": "P-256", "x": secret, "y": secret},
        f"-----BEGIN PUBLIC KEY-----\n{secret}\n-----END PUBLIC KEY-----",
        {"kty": "RSA", "n": secret, "e": secret},
    ):
        with pytest.raises(InvalidVerifyKey) as info:
            algorithm_for_key(key)
        assert secret not in str(info.value)
