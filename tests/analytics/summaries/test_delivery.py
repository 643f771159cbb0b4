"""Delivery over SMTP to a real server on loopback (aiosmtpd): plain relay, STARTTLS and implicit
TLS with a login, certificate trouble, refusals and temporary answers, each as a Delivery."""

from __future__ import annotations

import logging
import socket
from email.message import EmailMessage
from pathlib import Path

import pytest

from analytics.summaries.delivery import Delivery, SmtpMailer, envelope_recipients
from analytics.summaries.smtp_settings import ConfigError, SmtpSettings
from tests.analytics.summaries.smtp_server import (
    LoopbackSmtp,
    ServerCertificates,
    make_certificates,
)

DANA = "Dana Director <dana.director@city.example>"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))
USER, PASSWORD = "mailer", "s3cret-pass"


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> ServerCertificates:
    return make_certificates(tmp_path_factory.mktemp("tls"))


def summary(to: str = DANA, cc: str | None = None, number: int = 1) -> EmailMessage:
    """A weekly summary's shape: text, HTML and a chart the HTML shows inline."""
    message = EmailMessage()
    message["From"] = "commaudit <commaudit@city.example>"
    message["To"] = to
    if cc:
        message["Cc"] = cc
    message["Subject"] = f"Communication apps, week 2026-W47 ({number})"
    message["Message-ID"] = f"<summary-{number}@city.example>"
    message.set_content("Finance: 12.5 hours of email.\n")
    message.add_alternative('<p>Finance</p><img src="cid:chart">', subtype="html")
    [html] = (part for part in message.iter_parts() if part.get_content_type() == "text/html")
    html.add_related(PNG, "image", "png", cid="<chart>")
    return message


def parts(message: EmailMessage) -> list[tuple[str, bytes | str]]:
    return [
        (part.get_content_type(), part.get_content())
        for part in message.walk()
        if not part.is_multipart()
    ]


def send(settings: SmtpSettings, *messages: EmailMessage) -> list[Delivery]:
    with SmtpMailer(settings) as mailer:
        return [mailer.send(message) for message in messages]


def test_a_plain_relay_receives_the_message_as_composed() -> None:
    sent = summary(cc="Deputy <deputy@city.example>")
    with LoopbackSmtp() as server:
        [delivery] = send(server.settings(), sent)
        [received] = server.messages
    assert delivery == Delivery("sent", "250 2.0.0 Ok: queued as Q1", {}, False)
    assert received.mail_from == "commaudit@city.example"
    assert received.rcpt_tos == ("dana.director@city.example", "deputy@city.example")
    assert (received.login, received.tls) == (None, False)
    got = received.message
    assert got["Subject"] == "Communication apps, week 2026-W47 (1)"
    assert (got["To"], got["Cc"]) == (DANA, "Deputy <deputy@city.example>")
    assert got["Message-ID"] == "<summary-1@city.example>"
    assert parts(got) == [
        ("text/plain", "Finance: 12.5 hours of email.\n"),
        ("text/html", '<p>Finance</p><img src="cid:chart">\n'),
        ("image/png", PNG),
    ]
    assert parts(got) == parts(sent)


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_starttls_then_login_delivers_over_tls(
    certificates: ServerCertificates, mechanism: str
) -> None:
    with LoopbackSmtp(
        "starttls", certificates, auth={USER: PASSWORD}, mechanisms=(mechanism,)
    ) as server:
        [delivery] = send(server.settings(username=USER, password=PASSWORD), summary())
        assert server.logins == [(mechanism, USER)]
        [received] = server.messages
    assert delivery.status == "sent"
    assert (received.login, received.tls) == (USER, True)
    assert received.message["Message-ID"] == "<summary-1@city.example>"


def test_implicit_tls_then_login_delivers(certificates: ServerCertificates) -> None:
    with LoopbackSmtp("tls", certificates, auth={USER: PASSWORD}) as server:
        [delivery] = send(server.settings(username=USER, password=PASSWORD), summary())
        [received] = server.messages
    assert delivery == Delivery("sent", "250 2.0.0 Ok: queued as Q1", {}, False)
    assert (received.login, received.tls) == (USER, True)


@pytest.mark.parametrize("security", ["starttls", "tls"])
@pytest.mark.parametrize("trust", ["another CA", "the system's CAs"])
def test_a_certificate_from_an_untrusted_ca_fails_verification(
    certificates: ServerCertificates, tmp_path: Path, security: str, trust: str
) -> None:
    ca_file = make_certificates(tmp_path / "other").ca_file if trust == "another CA" else None
    with LoopbackSmtp(security, certificates) as server:
        [delivery] = send(server.settings(ca_file=ca_file), summary())
        assert server.messages == []
    assert delivery.status == "failed" and not delivery.permanent
    # OpenSSL's reason varies with what it found (another CA of the same name: a bad signature)
    assert delivery.detail.startswith(
        f"TLS certificate verification failed for 127.0.0.1:{server.port}: "
    )
    assert delivery.detail.endswith("(set ca_file to the CA that issued the server's certificate?)")


def test_starttls_not_offered_fails_and_nothing_goes_in_clear() -> None:
    with LoopbackSmtp("none") as server:
        [delivery] = send(server.settings(security="starttls"), summary())
        assert server.messages == []
    assert delivery.status == "failed" and not delivery.permanent
    assert delivery.detail.startswith(f"127.0.0.1:{server.port} does not offer STARTTLS")


def test_a_wrong_password_fails_permanently_once_for_the_batch(
    certificates: ServerCertificates, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with LoopbackSmtp("starttls", certificates, auth={USER: PASSWORD}) as server:
        settings = server.settings(username=USER, password="wrong-pass")
        first, second = send(settings, summary(number=1), summary(number=2))
        assert (server.logins, server.messages) == ([], [])
    assert first == Delivery(
        "failed",
        f"login as {USER} refused by 127.0.0.1:{server.port}:"
        " 535 5.7.8 Authentication credentials invalid",
        {},
        True,
    )
    assert second == first
    assert "wrong-pass" not in caplog.text


def test_a_recipient_refused_with_550_is_reported_beside_those_accepted() -> None:
    refusal = "550 5.1.1 <gone@city.example>: no such user"
    with LoopbackSmtp(refuse={"gone@city.example": refusal}) as server:
        [delivery] = send(server.settings(), summary(to=f"{DANA}, Gone <gone@city.example>"))
        [received] = server.messages
    assert delivery == Delivery(
        "sent",
        "1 of 2 recipients accepted (250 2.0.0 Ok: queued as Q1); refused"
        f" gone@city.example: {refusal}",
        {"gone@city.example": refusal},
        True,
    )
    assert received.rcpt_tos == ("dana.director@city.example",)


def test_every_recipient_refused_is_a_permanent_refusal() -> None:
    refusal = "550 5.1.1 <dana.director@city.example>: no such user"
    with LoopbackSmtp(refuse={"dana.director@city.example": refusal}) as server:
        [delivery] = send(server.settings(), summary())
        assert server.messages == []
    assert delivery == Delivery(
        "refused",
        f"every recipient refused: dana.director@city.example: {refusal}",
        {"dana.director@city.example": refusal},
        True,
    )


def test_a_sender_refused_with_553_is_a_permanent_refusal() -> None:
    with LoopbackSmtp(refuse_sender="553 5.7.1 sender not allowed") as server:
        [delivery] = send(server.settings(), summary())
    detail = f"sender refused by 127.0.0.1:{server.port}: 553 5.7.1 sender not allowed"
    assert delivery == Delivery("refused", detail, {}, True)


def test_a_451_answer_to_the_data_fails_for_now_and_the_next_message_still_goes() -> None:
    with LoopbackSmtp(refuse_data="451 4.3.0 try again later") as server:
        with SmtpMailer(server.settings()) as mailer:
            first = mailer.send(summary(number=1))
            server.refuse_data = None
            second = mailer.send(summary(number=2))
        [received] = server.messages
    detail = f"message refused by 127.0.0.1:{server.port}: 451 4.3.0 try again later"
    assert first == Delivery("failed", detail, {}, False)
    assert second.status == "sent"
    assert received.message["Message-ID"] == "<summary-2@city.example>"


def test_a_451_answer_to_every_recipient_fails_for_now() -> None:
    answer = "451 4.2.0 mailbox busy"
    with LoopbackSmtp(refuse={"dana.director@city.example": answer}) as server:
        [delivery] = send(server.settings(), summary())
    assert delivery == Delivery(
        "failed",
        f"every recipient refused: dana.director@city.example: {answer}",
        {"dana.director@city.example": answer},
        False,
    )


def test_nothing_listening_fails_with_connection_refused() -> None:
    with socket.socket() as probe:  # a port nobody listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = SmtpSettings(
        host="127.0.0.1", port=port, security="none", sender="a@city.example", timeout_s=5
    )
    first, second = send(settings, summary(number=1), summary(number=2))
    assert first == Delivery("failed", f"connection refused by 127.0.0.1:{port}", {}, False)
    assert second == first


def test_one_connection_serves_a_batch(certificates: ServerCertificates) -> None:
    with LoopbackSmtp("starttls", certificates, auth={USER: PASSWORD}) as server:
        settings = server.settings(username=USER, password=PASSWORD)
        deliveries = send(settings, *(summary(number=n) for n in (1, 2, 3)))
        received = server.messages
    assert [d.detail for d in deliveries] == [f"250 2.0.0 Ok: queued as Q{n}" for n in (1, 2, 3)]
    assert len({r.peer for r in received}) == 1
    assert len(server.logins) == 1


def test_the_mailer_reconnects_when_the_server_dropped_the_connection() -> None:
    with LoopbackSmtp() as server:
        with SmtpMailer(server.settings()) as mailer:
            first = mailer.send(summary(number=1))
            server.hang_up()
            second = mailer.send(summary(number=2))
        received = server.messages
    assert (first.status, second.status) == ("sent", "sent")
    assert [r.message["Message-ID"] for r in received] == [
        "<summary-1@city.example>",
        "<summary-2@city.example>",
    ]
    assert received[0].peer != received[1].peer


def test_each_delivery_is_logged_with_to_and_message_id_but_no_body_or_password(
    certificates: ServerCertificates, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="analytics.summaries.delivery")
    with LoopbackSmtp("starttls", certificates, auth={USER: PASSWORD}) as server:
        send(server.settings(username=USER, password=PASSWORD), summary())
    ours = [r.getMessage() for r in caplog.records if r.name == "analytics.summaries.delivery"]
    assert ours == [
        f"summary to {DANA}, Message-ID <summary-1@city.example>: sent: 250 2.0.0 Ok: queued as Q1"
    ]
    assert PASSWORD not in caplog.text and "12.5 hours" not in caplog.text


def test_a_message_without_recipients_fails_without_connecting() -> None:
    message = summary()
    del message["To"]
    with LoopbackSmtp() as server:
        [delivery] = send(server.settings(), message)
    assert delivery == Delivery("failed", "the message has no To or Cc address", {}, True)


def test_no_host_or_an_unreadable_ca_is_a_config_error_before_sending(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^host: no SMTP server is configured"):
        SmtpMailer(SmtpSettings())
    not_pem = tmp_path / "ca.pem"  # a file replaced after the settings were loaded
    not_pem.write_text("not a certificate\n")
    settings = SmtpSettings(host="mail.city.example", sender="a@city.example", ca_file=not_pem)
    with pytest.raises(ConfigError, match=f"^ca_file: cannot load {not_pem}: "):
        SmtpMailer(settings)


def test_envelope_recipients_are_the_to_and_cc_addresses_once_each() -> None:
    message = summary(
        to=f"{DANA}, second@city.example", cc="Dana again <dana.director@city.example>"
    )
    assert envelope_recipients(message) == ["dana.director@city.example", "second@city.example"]
