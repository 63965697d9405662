import pytest
from aioice import stun as aiostun

from snapconf.media.stun import (
    binding_error,
    binding_success,
    check_integrity,
    parse_binding_request,
)

PWD = "serverpassword0123456789"


def _request(username="srvU:cliU", pwd=PWD, use_candidate=True, fingerprint=True):
    msg = aiostun.Message(aiostun.Method.BINDING, aiostun.Class.REQUEST)
    msg.attributes["USERNAME"] = username
    msg.attributes["PRIORITY"] = 1853824767
    msg.attributes["ICE-CONTROLLING"] = 1234
    if use_candidate:
        msg.attributes["USE-CANDIDATE"] = None
    if pwd is not None:
        msg.add_message_integrity(pwd.encode())
    elif fingerprint:
        msg.add_fingerprint()
    return msg, bytes(msg)


def test_a_valid_request_is_parsed_and_its_integrity_checked():
    _msg, data = _request()
    request = parse_binding_request(data)
    assert (request.local_ufrag, request.remote_ufrag) == ("srvU", "cliU")
    assert request.use_candidate and request.priority == 1853824767
    assert check_integrity(request, PWD)


def test_a_request_signed_with_another_password_fails_the_check():
    _, data = _request(pwd="not-the-right-password!!")
    assert not check_integrity(parse_binding_request(data), PWD)


def test_the_success_response_maps_the_address_and_is_signed_with_our_password():
    msg, data = _request()
    request = parse_binding_request(data)
    response = aiostun.parse_message(binding_success(request, ("192.0.2.1", 5000), PWD))
    assert response.message_class == aiostun.Class.RESPONSE
    assert response.transaction_id == msg.transaction_id
    assert response.attributes["XOR-MAPPED-ADDRESS"] == ("192.0.2.1", 5000)
    assert response.check_message_integrity(PWD.encode())
    error = aiostun.parse_message(binding_error(request, 401, "Unauthorized"))
    assert error.error_code == 401


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x00\x01\x00", "STUN message length is less than 20 bytes"),
        (_request()[1][:-4], "STUN message length does not match"),
        (_request()[1][:-1] + b"\x00", "STUN message fingerprint does not match"),
        (_request(pwd=None)[1], "STUN request has no MESSAGE-INTEGRITY"),
        (_request(pwd=None, fingerprint=False)[1], "STUN request has no FINGERPRINT"),
        (_request(username="nocolon")[1], "STUN request has no ICE USERNAME"),
        (
            bytes(aiostun.Message(aiostun.Method.BINDING, aiostun.Class.RESPONSE)),
            "STUN message is not a request",
        ),
        (
            bytes(aiostun.Message(aiostun.Method.ALLOCATE, aiostun.Class.REQUEST)),
            "STUN message is not a Binding",
        ),
        (
            b"\x00\x01\x00\x08\x21\x12\xa4\x42" + bytes(12) + b"\x00\x24\x00\x02ab\x00\x00",
            "STUN message is malformed",
        ),
    ],
)
def test_malformed_requests_raise_exact_errors(data, message):
    with pytest.raises(ValueError) as info:
        parse_binding_request(data)
    assert str(info.value) == message
