"""Credentials and the identity checks every call goes through (credentials.py, identity.py)."""

from __future__ import annotations

import pytest

from collector.credentials import (
    DEVICE_PREFIX,
    OPERATOR_PREFIX,
    TOKEN_PREFIX,
    Unauthenticated,
    bearer,
    compose,
    digest,
    new_secret,
    parse,
)
from collector.identity import DeviceKeys, OperatorKeys


def device_credential(device_id: str) -> tuple[str, bytes]:
    secret = new_secret()
    return compose(DEVICE_PREFIX, device_id, secret), digest(secret)


def auth(credential: str) -> list[tuple[str, str | bytes]]:
    return [("user-agent", "grpc-python"), ("authorization", f"Bearer {credential}")]


def test_a_known_device_credential_names_its_device() -> None:
    credential, key = device_credential("laptop-0042.corp_1")
    keys = DeviceKeys({"laptop-0042.corp_1": (key, False)})
    assert keys.authenticate(auth(credential)) == "laptop-0042.corp_1"


def test_a_device_id_with_dots_parses_because_the_secret_has_none() -> None:
    secret = new_secret()
    assert "." not in secret and len(secret) == 43
    assert parse(compose(DEVICE_PREFIX, "a.b.c", secret), DEVICE_PREFIX) == ("a.b.c", secret)


def test_a_wrong_secret_for_a_known_device_is_as_unknown_as_an_unknown_device() -> None:
    credential, _ = device_credential("laptop-1")
    _, other_key = device_credential("laptop-1")
    keys = DeviceKeys({"laptop-1": (other_key, False)})
    with pytest.raises(Unauthenticated, match="unknown device credential"):
        keys.authenticate(auth(credential))
    with pytest.raises(Unauthenticated, match="unknown device credential"):
        DeviceKeys({}).authenticate(auth(credential))


def test_a_revoked_device_is_refused_naming_the_revocation() -> None:
    credential, key = device_credential("laptop-2")
    keys = DeviceKeys({"laptop-2": (key, False)})
    keys.revoke("laptop-2")
    with pytest.raises(Unauthenticated, match="device laptop-2 has been revoked"):
        keys.authenticate(auth(credential))


@pytest.mark.parametrize(
    ("metadata", "reason"),
    [
        (None, "no credential"),
        ([("user-agent", "grpc-python")], "no credential"),
        ([("authorization", "Basic abc")], "must be 'Bearer <credential>'"),
        ([("authorization", b"Bearer x")], "must be 'Bearer <credential>'"),
        ([("authorization", "Bearer a"), ("authorization", "Bearer b")], "given 2 times"),
        ([("authorization", "Bearer cad1.laptop")], "malformed device credential"),
        ([("authorization", "Bearer cad1..abc")], "malformed device credential"),
        ([("authorization", "Bearer cad1.x/y." + "a" * 43)], "malformed device credential"),
        ([("authorization", "Bearer cao1.admin." + "a" * 43)], "it is an operator credential"),
        (
            [("authorization", "Bearer cat1.0011." + "a" * 43)],
            "it is an enrollment token credential",
        ),
        ([("authorization", "Bearer nonsense")], "not a device credential"),
    ],
)
def test_a_missing_malformed_or_misplaced_credential_is_unauthenticated(
    metadata: list[tuple[str, str | bytes]] | None, reason: str
) -> None:
    with pytest.raises(Unauthenticated, match=reason):
        DeviceKeys({}).authenticate(metadata)


def test_an_operator_credential_gives_its_role_and_a_device_credential_is_not_one() -> None:
    secret = new_secret()
    operators = OperatorKeys({"ana": (digest(secret), "analyst", "")})
    operator = operators.authenticate(auth(compose(OPERATOR_PREFIX, "ana", secret)))
    assert (operator.operator_id, operator.role) == ("ana", "analyst")
    credential, _ = device_credential("ana")
    with pytest.raises(Unauthenticated, match="not an operator credential"):
        operators.authenticate(auth(credential))


def test_bearer_strips_the_scheme_and_tokens_have_their_own_prefix() -> None:
    token = compose(TOKEN_PREFIX, "0123abcd", new_secret())
    assert bearer([("authorization", f"Bearer {token}")]) == token
    assert parse(token, TOKEN_PREFIX)[0] == "0123abcd"
