"""A third-party verifier checks Bouncer's tokens from the published JWKS alone (issue: JWT + JWKS)."""
import jwt
import requests
from bouncer_harness import ADMIN_USER, ADMIN_PASS, token


def test_pyjwkclient_verifies_our_access_tokens(server):
    meta = requests.get(server.url + "/.well-known/oauth-authorization-server").json()
    assert meta["jwks_uri"].endswith("/.well-known/jwks.json")
    tok = token(server, ADMIN_USER, ADMIN_PASS)["access_token"]
    client = jwt.PyJWKClient(server.url + "/.well-known/jwks.json")
    key = client.get_signing_key_from_jwt(tok)
    claims = jwt.decode(tok, key.key, algorithms=["EdDSA"], audience="bouncer", issuer=meta["issuer"],
                        options={"require": ["exp", "iat", "nbf", "iss", "aud", "sub", "jti"]})
    me = requests.get(server.url + "/users/me", headers={"Authorization": "Bearer " + tok}).json()
    assert claims["sub"] == me["id"]
    assert claims["scope"] == "*"
    assert claims["exp"] - claims["iat"] == 900


def test_a_token_forged_with_another_key_fails_both_sides(server):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    real = token(server, ADMIN_USER, ADMIN_PASS)["access_token"]
    header = jwt.get_unverified_header(real)
    claims = jwt.decode(real, options={"verify_signature": False})
    forged = jwt.encode(claims, Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": header["kid"]})
    key = jwt.PyJWKClient(server.url + "/.well-known/jwks.json").get_signing_key_from_jwt(forged)
    try:
        jwt.decode(forged, key.key, algorithms=["EdDSA"], audience="bouncer")
        raise AssertionError("PyJWT accepted a forged token")
    except jwt.InvalidSignatureError:
        pass
    assert requests.get(server.url + "/users/me", headers={"Authorization": "Bearer " + forged}).status_code == 401
