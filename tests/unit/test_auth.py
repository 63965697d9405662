import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from snapconf.auth import AuthConfig, TokenVerifier
from snapconf.errors import AuthExpired, AuthInvalid, AuthRequired, RoomMismatch

SECRET = "s3cret-for-tests-only-0123456789abcdef"


def _token(claims, key=SECRET, algorithm="HS256"):
    return jwt.encode(claims, key, algorithm=algorithm)


def _verifier():
    return TokenVerifier(AuthConfig(jwt_secret=SECRET))


def test_a_valid_token_grants_its_room_role_and_name():
    token = _token(
        {"room": "equipe", "exp": time.time() + 86400, "role": "moderator", "name": "Alice"}
    )
    grant = _verifier().verify(token, "equipe")
    assert (grant.room, grant.role, grant.name) == ("equipe", "moderator", "Alice")


def test_a_wildcard_room_claim_admits_any_room():
    assert (
        _verifier().verify(_token({"room": "*", "exp": time.time() + 86400}), "x").role
        == "participant"
    )


@pytest.mark.parametrize(
    ("token", "error", "message"),
    [
        (None, AuthRequired, "this server requires a token to join"),
        (42, AuthInvalid, "token is not a string"),
        (_token({"room": "equipe", "exp": time.time() - 3600}), AuthExpired, "token has expired"),
        (
            _token({"room": "autre", "exp": time.time() + 86400}),
            RoomMismatch,
            "token is for another room",
        ),
        (
            _token({"room": "equipe"}),
            AuthInvalid,
            'token is invalid: Token is missing the "exp" claim',
        ),
        (_token({"exp": time.time() + 86400}), AuthInvalid, "token has no room claim"),
        (
            _token(
                {"room": "equipe", "exp": time.time() + 86400},
                key="another-secret-another-secret-0123",
            ),
            AuthInvalid,
            "token is invalid: Signature verification failed",
        ),
        (
            _token({"room": "equipe", "exp": time.time() + 86400, "role": "admin"}),
            AuthInvalid,
            "token role is not participant or moderator",
        ),
    ],
)
def test_bad_tokens_are_refused_with_their_reason(token, error, message):
    with pytest.raises(error) as info:
        _verifier().verify(token, "equipe")
    assert info.value.message == message


def test_unsigned_and_other_algorithm_tokens_are_refused():
    claims = {"room": "equipe", "exp": time.time() + 86400}
    unsigned = jwt.encode(claims, None, algorithm="none")
    with pytest.raises(AuthInvalid, match="alg"):
        _verifier().verify(unsigned, "equipe")
    hs512 = jwt.encode(claims, SECRET * 2, algorithm="HS512")
    with pytest.raises(AuthInvalid, match="alg"):
        _verifier().verify(hs512, "equipe")


def test_public_key_tokens_are_verified_and_hmac_confusion_is_refused():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    verifier = TokenVerifier(AuthConfig(jwt_public_key=public_pem))
    claims = {"room": "equipe", "exp": time.time() + 86400}
    assert verifier.verify(jwt.encode(claims, key, algorithm="RS256"), "equipe").room == "equipe"
    # an attacker signs HS256 with the public key as the HMAC secret (algorithm confusion)
    forged = _hmac_jwt({"room": "equipe", "exp": int(time.time()) + 60}, public_pem.encode())
    with pytest.raises(AuthInvalid):
        verifier.verify(forged, "equipe")


def _hmac_jwt(claims, secret):
    def b64(data):
        return base64.urlsafe_b64encode(data).rstrip(b"=")

    signing_input = b64(b'{"alg":"HS256","typ":"JWT"}') + b"." + b64(json.dumps(claims).encode())
    signature = hmac.new(secret, signing_input, hashlib.sha256).digest()
    return (signing_input + b"." + b64(signature)).decode()


def test_a_key_that_does_not_fit_the_algorithm_is_a_config_error():
    with pytest.raises(ValueError, match="does not fit a secret"):
        TokenVerifier(AuthConfig(jwt_secret="x" * 32, jwt_algorithm="RS256"))


async def test_token_admission_asks_browsers_for_a_token_and_lets_phones_in_by_their_pin():
    from snapconf.auth import TokenAdmission
    from snapconf.conference.admission import JoinRequest

    admission = TokenAdmission(_verifier())
    with pytest.raises(AuthRequired):
        await admission.admit(JoinRequest("equipe", "Alice"))
    token = _token({"room": "equipe", "exp": time.time() + 86400, "role": "moderator"})
    grant = await admission.admit(JoinRequest("equipe", "Alice", token=token))
    assert (grant.role, grant.max_participants) == ("moderator", None)
    assert (await admission.admit(JoinRequest("equipe", "+33 1", kind="phone"))).role == (
        "participant"
    )
    assert (await TokenAdmission(None).admit(JoinRequest("equipe", "Bob"))).role == "participant"
