"""A real SMTP server on 127.0.0.1 (aiosmtpd) for tests that send mail, and its TLS material.

    certificates = make_certificates(tmp_path / "tls")
    with LoopbackSmtp("starttls", certificates, auth={"mailer": "s3cret"}) as server:
        mailer = SmtpMailer(server.settings(username="mailer", password="s3cret"))
        ...
        server.messages[0].message["Subject"]

security mirrors SmtpSettings: "none" (plain relay), "starttls" (offered, and required before
MAIL) or "tls" (TLS from the first byte). `auth` (user -> password) makes a login required,
only over TLS, with `mechanisms` offered. `refuse` maps a recipient to the reply its RCPT gets
("550 5.1.1 <x@y>: no such user"); `refuse_sender` and `refuse_data` answer MAIL and the end of
DATA. `hang_up()` closes every connection, as a server does on restart or idle timeout.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default
from pathlib import Path
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

from analytics.summaries.smtp_settings import SmtpSettings
from collector.tls import CA_FILE, SERVER_CERT_FILE, SERVER_KEY_FILE, create_tls

HOST = "127.0.0.1"
SENDER = "commaudit <commaudit@city.example>"
MECHANISMS = ("LOGIN", "PLAIN")
"""aiosmtpd's built-in AUTH mechanisms."""


@dataclass(frozen=True)
class ServerCertificates:
    """A throwaway CA and a server certificate it issued for 127.0.0.1 and localhost."""

    ca_file: Path
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def make_certificates(directory: Path) -> ServerCertificates:
    """Made by the collector's own code (collector/tls.py), as its tests make theirs."""
    create_tls(directory, [HOST, "localhost"])
    return ServerCertificates(
        directory / CA_FILE, directory / SERVER_CERT_FILE, directory / SERVER_KEY_FILE
    )


@dataclass(frozen=True)
class Received:
    """One message the server accepted."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage
    peer: tuple[str, int]
    """The client's address: another port means another connection."""
    login: str | None
    """Who had logged in on that connection."""
    tls: bool
    """Whether the message came over TLS."""


@dataclass
class _Recorder:
    """aiosmtpd's handler: answers as told and keeps what it accepted."""

    login_required: bool
    refuse: Mapping[str, str]
    refuse_sender: str | None
    refuse_data: str | None
    messages: list[Received] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if self.login_required and not session.authenticated:
            return "530 5.7.0 Authentication required"
        if self.refuse_sender:
            return self.refuse_sender
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse_data:
            return self.refuse_data
        # As a mail client reads it: the wire's CRLF line ends as Python's "\n".
        message = BytesParser(policy=default).parsebytes(envelope.content.replace(b"\r\n", b"\n"))
        assert isinstance(message, EmailMessage)
        login = session.auth_data.login.decode() if session.authenticated else None
        tls = server.transport.get_extra_info("ssl_object") is not None
        received = Received(
            envelope.mail_from, tuple(envelope.rcpt_tos), message, session.peer, login, tls
        )
        with self.lock:
            self.messages.append(received)
            return f"250 2.0.0 Ok: queued as Q{len(self.messages)}"


class _Controller(Controller):
    """aiosmtpd's threaded server, on port 0, keeping each connection's protocol object."""

    sessions: list[SMTP]

    def factory(self) -> SMTP:
        smtpd: SMTP = super().factory()  # type: ignore[no-untyped-call]
        self.sessions.append(smtpd)
        return smtpd

    def _trigger_server(self) -> None:
        """aiosmtpd 1.4.6 binds port 0 but then probes port 0: learn the bound port first."""
        assert isinstance(self.server, asyncio.Server)
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]

    async def hang_up(self) -> None:
        for smtpd in self.sessions:
            if smtpd.transport is not None:
                smtpd.transport.close()
        while any(smtpd.transport is not None for smtpd in self.sessions):
            await asyncio.sleep(0.005)  # connection_lost() clears it once the socket is closed


class LoopbackSmtp:
    """The server, started on entering and stopped on leaving a `with` block."""

    def __init__(
        self,
        security: str = "none",
        certificates: ServerCertificates | None = None,
        *,
        auth: Mapping[str, str] | None = None,
        mechanisms: tuple[str, ...] = MECHANISMS,
        refuse: Mapping[str, str] | None = None,
        refuse_sender: str | None = None,
        refuse_data: str | None = None,
    ) -> None:
        if (security != "none") != (certificates is not None):
            raise ValueError("certificates are needed for, and only for, starttls and tls")
        self.security = security
        self.certificates = certificates
        self._recorder = _Recorder(bool(auth), refuse or {}, refuse_sender, refuse_data)
        self._auth = dict(auth or {})
        context = certificates.server_context() if certificates else None
        self._controller = _Controller(
            self._recorder,
            hostname=HOST,
            port=0,
            server_hostname="loopback.test",  # not getfqdn(), which may wait on DNS
            ssl_context=context if security == "tls" else None,
            tls_context=context if security == "starttls" else None,
            require_starttls=security == "starttls",
            authenticator=self._authenticate if auth else None,
            # aiosmtpd 1.4.6 counts only STARTTLS as TLS for AUTH: over implicit TLS, offer AUTH
            # without its check (the whole connection is TLS) and require the login at MAIL
            # (_Recorder), as auth_required would warn there.
            auth_require_tls=security != "tls",
            auth_exclude_mechanism=[m for m in MECHANISMS if m not in mechanisms],
        )
        self._controller.sessions = []

    @property
    def port(self) -> int:
        return int(self._controller.port)

    @property
    def messages(self) -> list[Received]:
        with self._recorder.lock:
            return list(self._recorder.messages)

    @property
    def logins(self) -> list[tuple[str, str]]:
        """(mechanism, user) of each successful login."""
        with self._recorder.lock:
            return list(self._recorder.logins)

    @property
    def refuse_data(self) -> str | None:
        """The answer to the end of DATA; None accepts. Settable while the server runs."""
        return self._recorder.refuse_data

    @refuse_data.setter
    def refuse_data(self, reply: str | None) -> None:
        self._recorder.refuse_data = reply

    def hang_up(self) -> None:
        """Close every open connection, as a server does on restart or idle timeout."""
        hung_up = asyncio.run_coroutine_threadsafe(
            self._controller.hang_up(), self._controller.loop
        )
        hung_up.result(timeout=5)

    def settings(self, **changes: Any) -> SmtpSettings:
        """Client settings that reach this server and trust its CA; `changes` on top."""
        ca_file = self.certificates.ca_file if self.certificates else None
        base = SmtpSettings(
            host=HOST,
            port=self.port,
            security=self.security,
            sender=SENDER,
            ca_file=ca_file,
            timeout_s=5.0,
        )
        return replace(base, **changes)

    def __enter__(self) -> LoopbackSmtp:
        self._controller.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._controller.stop()

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        user, password = data.login.decode(), data.password.decode()
        if user in self._auth and self._auth[user] == password:
            with self._recorder.lock:
                self._recorder.logins.append((mechanism, user))
            return AuthResult(success=True, auth_data=data)
        return AuthResult(success=False, handled=False)
