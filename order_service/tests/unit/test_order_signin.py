"""The sign-in link's token: the email it was made for comes back, until it is too old or
touched; a token made with another secret is not ours."""

from __future__ import annotations

import pytest

from order_service.signin import InvalidSignInLink, SignInLinks

LINKS = SignInLinks(secret="test-secret", max_age_seconds=900)


def test_a_token_gives_back_its_email():
    assert LINKS.email_of(LINKS.token("ada@example.test")) == "ada@example.test"


def test_an_old_token_is_refused_as_expired(monkeypatch):
    token = LINKS.token("ada@example.test")
    later = LINKS._serializer().signer(LINKS._serializer().secret_keys[-1]).get_timestamp() + 901
    monkeypatch.setattr("itsdangerous.timed.TimestampSigner.get_timestamp", lambda self: later)

    with pytest.raises(InvalidSignInLink) as refused:
        LINKS.email_of(token)
    assert refused.value.expired


@pytest.mark.parametrize(
    "token",
    [
        "",
        "garbage",
        SignInLinks(secret="another-secret", max_age_seconds=900).token("ada@example.test"),
        LINKS.token("ada@example.test")[:-2] + "xx",
        LINKS.token("not an email"),
    ],
)
def test_a_token_that_is_not_ours_is_refused(token):
    with pytest.raises(InvalidSignInLink) as refused:
        LINKS.email_of(token)
    assert not refused.value.expired
