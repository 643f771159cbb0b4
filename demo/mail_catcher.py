"""A mail server on 127.0.0.1 for the demo (aiosmtpd, installed with the project's dev tools): it
keeps what it receives in memory, so the demo can show the weekly summaries arriving without
any mail reaching the network."""

from __future__ import annotations

import socket
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default
from typing import Any

from aiosmtpd.controller import Controller


class MailCatcher:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        with socket.socket() as probe:  # a free port (aiosmtpd 1.4 cannot take port 0)
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = BytesParser(policy=default).parsebytes(envelope.content)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 2.0.0 Ok: queued"

    def __enter__(self) -> MailCatcher:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()
