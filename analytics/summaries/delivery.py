"""Composed summaries handed to the organisation's SMTP server, every outcome classified.

One connection serves a batch (`with SmtpMailer(settings) as mailer: mailer.send(...)`); send()
never raises for SMTP, network or TLS trouble but answers a Delivery the caller records in the
ledger, the way the agent's sender classifies every failure (STYLE.md 7):

    sent      the server took the message, maybe not for every recipient (`refused` says whom)
    refused   the server declined this message: sender, all recipients or the data, with 5xx
    failed    it was not delivered: network, TLS, login, a 4xx answer; `permanent` says whether
              trying again later can help (5xx and login failures: no)

Decisions:
- Security is never traded for delivery: the certificate is always verified, STARTTLS that the
  server does not offer fails the send (nothing goes out in clear), and settings refuse a login
  without TLS (smtp_settings.py).
- The connection is opened at the first send, so that its failure is a Delivery too. A failure
  to connect, to start TLS or to log in is answered for the rest of the batch without trying
  again: retrying each message would hammer a server that is down, wait out the timeout per
  director, or lock the account after repeated bad logins. The next run retries.
- Before reusing the connection for the next message it is checked with NOOP; if the server
  has dropped it (idle timeout, 421) the mailer reconnects once. A connection lost during a
  message is not retried, as the server may have taken the message already.
- Envelope recipients are the To and Cc addresses; the envelope sender is settings.sender's
  address. Logs name the To and Message-ID of each message, never bodies or the password.
"""

from __future__ import annotations

import logging
import smtplib
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import getaddresses
from types import TracebackType
from typing import Any

from agent.layered_settings import ConfigError
from analytics.summaries.smtp_settings import SmtpSettings

__all__ = ["FAILED", "REFUSED", "SENT", "Delivery", "SmtpMailer", "envelope_recipients"]

log = logging.getLogger(__name__)

SENT, REFUSED, FAILED = "sent", "refused", "failed"
_ANSWERED = (smtplib.SMTPResponseException, smtplib.SMTPRecipientsRefused)
"""The server answered (smtplib then resets the transaction): the connection is still good."""


@dataclass(frozen=True)
class Delivery:
    """What happened to one message, in words an operator can act on."""

    status: str
    """sent, refused or failed."""
    detail: str
    """One line: the server's answer or what went wrong, and with which server."""
    refused: Mapping[str, str] = field(default_factory=dict)
    """Recipient -> the server's reply, for each recipient refused (also when sent to others)."""
    permanent: bool = False
    """True when trying again cannot help: 5xx answers, a refused login, a message without
    recipients; for "sent", whether every refusal in `refused` was 5xx."""


class _Session(smtplib.SMTP):
    """smtplib.SMTP keeping the answer to DATA, whose queue id lets the mail admin trace it."""

    data_reply: tuple[int, bytes] = (0, b"")

    def data(self, msg: Any) -> tuple[int, bytes]:
        self.data_reply = super().data(msg)
        return self.data_reply


class _TlsSession(smtplib.SMTP_SSL, _Session):
    """The same over implicit TLS (port 465)."""


class SmtpMailer:
    """One SMTP connection for a batch of messages; see the module docstring."""

    def __init__(self, settings: SmtpSettings) -> None:
        """Raises ConfigError when no server is configured or the CA file cannot be loaded:
        both are known before anything is sent."""
        if not settings.host:
            raise ConfigError(
                "host: no SMTP server is configured (set host, or COMMAUDIT_SMTP_HOST);"
                " use --dry-run to write the emails to an outbox instead"
            )
        self._settings = settings
        self._where = f"{settings.host}:{settings.server_port}"
        self._context = _tls_context(settings) if settings.security != "none" else None
        self._smtp: _Session | None = None
        self._broken: Delivery | None = None
        """The failure to connect, answered for the rest of the batch."""

    def __enter__(self) -> SmtpMailer:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Say QUIT if the connection is open; a server already gone is no error."""
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()

    def send(self, message: EmailMessage) -> Delivery:
        delivery = self._deliver(message)
        log.info(
            "summary to %s, Message-ID %s: %s: %s",
            message.get("To", ""),
            message.get("Message-ID", "(none)"),
            delivery.status,
            delivery.detail,
        )
        return delivery

    def _deliver(self, message: EmailMessage) -> Delivery:
        recipients = envelope_recipients(message)
        if not recipients:
            return Delivery(FAILED, "the message has no To or Cc address", permanent=True)
        if self._broken is not None:
            return self._broken
        try:
            smtp = self._connection()
        except (smtplib.SMTPException, OSError) as error:  # ssl.SSLError is an OSError
            self._broken = self._failure(error)
            return self._broken
        try:
            refused = smtp.send_message(message, self._settings.sender_address, recipients)
        except (smtplib.SMTPException, OSError) as error:
            if not isinstance(error, _ANSWERED):
                self.close()  # the session's state is unknown: the next message starts afresh
            return self._failure(error)
        return _sent(smtp.data_reply, refused, len(recipients))

    def _connection(self) -> _Session:
        if self._smtp is not None:
            if _alive(self._smtp):
                return self._smtp
            log.info("%s dropped the connection; reconnecting", self._where)
            self.close()
        self._smtp = self._connect()
        return self._smtp

    def _connect(self) -> _Session:
        s = self._settings
        smtp: _Session
        if s.security == "tls":
            smtp = _TlsSession(s.host, s.server_port, timeout=s.timeout_s, context=self._context)
        else:
            smtp = _Session(s.host, s.server_port, timeout=s.timeout_s)
        try:
            if s.security == "starttls":
                smtp.starttls(context=self._context)  # raises when not offered: never clear
            if s.username:
                smtp.login(s.username, s.password)
        except BaseException:
            smtp.close()
            raise
        return smtp

    def _failure(self, error: BaseException) -> Delivery:
        """The Delivery for an exception from smtplib, ssl or the socket."""
        if isinstance(error, smtplib.SMTPRecipientsRefused):
            refused = {to: _reply(*answer) for to, answer in error.recipients.items()}
            permanent = all(code >= 500 for code, _ in error.recipients.values())
            detail = "every recipient refused: " + _listed(refused)
            return Delivery(REFUSED if permanent else FAILED, detail, refused, permanent)
        if isinstance(error, smtplib.SMTPAuthenticationError):
            reply = _reply(error.smtp_code, error.smtp_error)
            detail = f"login as {self._settings.username} refused by {self._where}: {reply}"
            return Delivery(FAILED, detail, permanent=True)
        if isinstance(error, smtplib.SMTPSenderRefused | smtplib.SMTPDataError):
            step = "sender" if isinstance(error, smtplib.SMTPSenderRefused) else "message"
            permanent = error.smtp_code >= 500
            detail = f"{step} refused by {self._where}: {_reply(error.smtp_code, error.smtp_error)}"
            return Delivery(REFUSED if permanent else FAILED, detail, permanent=permanent)
        if isinstance(error, smtplib.SMTPResponseException):  # banner, EHLO, STARTTLS, AUTH
            detail = f"{self._where} answered {_reply(error.smtp_code, error.smtp_error)}"
            return Delivery(FAILED, detail, permanent=error.smtp_code >= 500)
        if isinstance(error, smtplib.SMTPNotSupportedError):
            return self._unsupported(error)
        return Delivery(FAILED, self._trouble(error))

    def _unsupported(self, error: smtplib.SMTPNotSupportedError) -> Delivery:
        if "STARTTLS" in str(error):
            detail = (
                f"{self._where} does not offer STARTTLS, so nothing was sent: security is"
                ' "starttls" (the server may need security = "tls", or port 587)'
            )
            return Delivery(FAILED, detail)  # as likely an attacker stripping it as a setting
        if "AUTH" in str(error):
            detail = f"{self._where} offers no login (AUTH) to {self._settings.username}"
            return Delivery(FAILED, detail, permanent=True)
        return Delivery(FAILED, f"{self._where}: {error}", permanent=True)

    def _trouble(self, error: BaseException) -> str:
        """Network and TLS trouble, said with the server's name."""
        where = self._where
        if isinstance(error, ssl.SSLCertVerificationError):
            return (
                f"TLS certificate verification failed for {where}: {error.verify_message}"
                " (set ca_file to the CA that issued the server's certificate?)"
            )
        if isinstance(error, ssl.SSLError):
            return f"TLS with {where} failed: {error.reason or error}"
        if isinstance(error, smtplib.SMTPServerDisconnected):
            return f"{where} closed the connection ({error or 'no reason given'})"
        if isinstance(error, ConnectionRefusedError):
            return f"connection refused by {where}"
        if isinstance(error, TimeoutError):
            return f"no answer from {where} within {self._settings.timeout_s:g} s"
        if isinstance(error, socket.gaierror):
            return f"cannot find {self._settings.host}: {error.strerror}"
        if isinstance(error, OSError):
            return f"cannot talk to {where}: {error.strerror or error}"
        return f"{where}: {error}"


def envelope_recipients(message: EmailMessage) -> list[str]:
    """The bare addresses in To and Cc, each once, in order."""
    headers = [str(value) for name in ("To", "Cc") for value in message.get_all(name, [])]
    addresses = (address for _, address in getaddresses(headers) if "@" in address)
    return list(dict.fromkeys(addresses))


def _tls_context(settings: SmtpSettings) -> ssl.SSLContext:
    """Verification on, hostname checked; the CA file, if given, is the only trust."""
    cafile = str(settings.ca_file) if settings.ca_file is not None else None
    try:
        return ssl.create_default_context(cafile=cafile)
    except OSError as error:  # ssl.SSLError too: no PEM certificate in it
        raise ConfigError(f"ca_file: cannot load {cafile}: {error}") from None


def _alive(smtp: _Session) -> bool:
    try:
        return smtp.noop()[0] == 250
    except (smtplib.SMTPException, OSError):
        return False


def _sent(data_reply: tuple[int, bytes], refused: Mapping[str, Any], recipients: int) -> Delivery:
    replies = {to: _reply(*answer) for to, answer in refused.items()}
    detail = _reply(*data_reply)
    if replies:
        accepted = recipients - len(replies)
        detail = f"{accepted} of {recipients} recipients accepted ({detail}); refused " + _listed(
            replies
        )
    permanent = bool(replies) and all(code >= 500 for code, _ in refused.values())
    return Delivery(SENT, detail, replies, permanent)


def _reply(code: int, text: bytes | str) -> str:
    """A server's answer on one line: `550 5.1.1 <x@y>: no such user`."""
    words = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    return f"{code} {' '.join(words.split())}"


def _listed(refused: Mapping[str, str]) -> str:
    return "; ".join(f"{to}: {reply}" for to, reply in refused.items())
