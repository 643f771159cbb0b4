"""Where weekly summaries are mailed: the SMTP server, its security and the login (STYLE.md 8).

Layered like the collector's settings (agent/layered_settings.py): command line > environment
(COMMAUDIT_SMTP_<KEY>) > TOML file (keys at top level; the CLI's default is
/etc/commaudit/summaries.toml) > defaults. The documented example is
packaging/config/summaries.toml, checked against this class.

Decisions:
- The password is never shown: `repr` leaves it out and `describe()` (check-config) prints
  "(set)" or "" in its place. It may come from `password` (file, COMMAUDIT_SMTP_PASSWORD) or from
  `password_file`, a file holding only the password, e.g. a systemd credential
  ("$CREDENTIALS_DIRECTORY/smtp-password", the variable taken from the environment given), so
  it need not sit in the config file or the environment. The file is read once, at load, one
  trailing line break dropped; giving both `password` and `password_file` is refused, since
  either silently winning would hide a mistake. smtplib logs in with ASCII only, so a
  non-ASCII user or password is refused at load rather than at every send.
- A password is never sent in clear: security "none" (an internal relay on a trusted network)
  is accepted only without a username.
- Verification of the server's certificate is always on; `ca_file` only chooses whom to trust.
"""

from __future__ import annotations

import ipaddress
import math
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from email.utils import getaddresses, parseaddr
from pathlib import Path
from typing import Any

from agent.layered_settings import (
    ConfigError,
    Effective,
    Layers,
    Origin,
    SettingError,
    gather,
    settle,
)
from agent.setting_values import choice, converter, path, show, text

__all__ = [
    "DEFAULT_PORTS",
    "ENV_PREFIX",
    "SECURITIES",
    "ConfigError",
    "SmtpSettings",
    "load_smtp_settings",
]

ENV_PREFIX = "COMMAUDIT_SMTP_"
DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}
"""The submission port (RFC 6409), implicit TLS submission (RFC 8314), and plain relay."""
SECURITIES = tuple(DEFAULT_PORTS)
PASSWORD_SHOWN = "(set)"


@dataclass(frozen=True)
class SmtpSettings:
    host: str = ""
    """SMTP server's host name or address; empty: not configured (only --dry-run works)."""
    port: int = 0
    """0: the security's usual port: 587 starttls, 465 tls, 25 none."""
    security: str = "starttls"
    """starttls (upgrade after connecting), tls (TLS from the first byte) or none."""
    username: str = ""
    """Log in as this user; empty: no login (a relay that trusts this host)."""
    password: str = field(default="", repr=False)
    """The login's password; never printed. Read from password_file when that is set."""
    password_file: Path | None = None
    """File holding only the password (e.g. a systemd credential); exclusive with password."""
    sender: str = ""
    """From: of the summaries and the envelope sender, e.g. "commaudit <commaudit@city.example>"."""
    ca_file: Path | None = None
    """PEM CA(s) that issued the server's certificate; unset: the system's trusted CAs."""
    timeout_s: float = 30.0
    """Seconds to wait for the server at each step before giving up on it."""

    @property
    def server_port(self) -> int:
        """The port connected to: `port`, or the usual one for `security`."""
        return self.port or DEFAULT_PORTS[self.security]

    @property
    def sender_address(self) -> str:
        """The bare address of `sender`, for the envelope (MAIL FROM)."""
        return parseaddr(self.sender)[1]

    def validate(self) -> SmtpSettings:
        """What no single value shows: no password in clear, a login needs a user, a sender.

        The CA file is loaded here too, so a wrong path or file is named at load, not found by
        the first send.
        """
        if self.username and self.security == "none":
            raise SettingError(
                "security",
                '"none" would send the password in clear: with a username, use starttls or tls'
                " (none is for a relay that needs no login)",
            )
        if (self.password or self.password_file) and not self.username:
            raise SettingError("username", "a password is set, so the username must be set too")
        if self.ca_file is not None:
            _check_ca_file(self.ca_file)
        if self.host and not self.sender:
            raise SettingError(
                "sender",
                'required to send: the From address, e.g. "commaudit <commaudit@city.example>"',
            )
        return self

    def shown(self) -> SmtpSettings:
        """These settings with the password replaced by "(set)": what may be printed."""
        return replace(self, password=PASSWORD_SHOWN if self.password else "")


def _check_ca_file(path: Path) -> None:
    if not path.is_file():
        raise SettingError("ca_file", f"{path}: no such file")
    try:
        ssl.create_default_context(cafile=str(path))
    except OSError:  # ssl.SSLError too, whose OpenSSL wording ("PEM lib") helps no one
        raise SettingError("ca_file", f"{path}: no PEM certificate could be read from it") from None


class SmtpEffective(Effective[SmtpSettings]):
    """Effective SMTP settings whose description says whether a password is set, never which."""

    def describe(self) -> str:
        return Effective(self.config.shown(), self.origins).describe()


def load_smtp_settings(
    file: Path | None,
    environ: Mapping[str, str],
    flags: Mapping[str, Any],
    flag_names: Mapping[str, str] | None = None,
) -> Effective[SmtpSettings]:
    """The validated settings and where each came from; the password file is read here.

    flags: command-line values by setting, None where the option was not given; flag_names: an
    option's name where it is not `--setting-with-dashes`.
    """
    keys = [f.name for f in fields(SmtpSettings)]
    layers = gather(keys, file, environ, ENV_PREFIX, flags, flag_names)
    if layers.values.get("password") and layers.values.get("password_file"):
        raise layers.blame(
            SettingError(
                "password_file",
                "set password or password_file, not both (password is also set by "
                f"{layers.origins['password'].names('password')})",
            )
        )
    effective = settle(layers, SmtpSettings, converter(_KINDS))
    config, origins = effective.config, dict(effective.origins)
    if config.password_file is not None:
        path = _credential_path(layers, config.password_file, environ)
        config = replace(config, password_file=path, password=_read_password(layers, path))
        origins["password"] = Origin("file", str(path))
    return SmtpEffective(config, origins)


def _credential_path(layers: Layers, path: Path, environ: Mapping[str, str]) -> Path:
    """$CREDENTIALS_DIRECTORY/NAME: the folder systemd gives the unit's LoadCredential= files,
    known only when the service runs, so a config file can name a credential."""
    for variable in ("$CREDENTIALS_DIRECTORY", "${CREDENTIALS_DIRECTORY}"):
        if str(path).startswith(variable + "/"):
            folder = environ.get("CREDENTIALS_DIRECTORY")
            if not folder:
                reason = (
                    f"{path}: CREDENTIALS_DIRECTORY is not set"
                    " (systemd sets it for a unit with LoadCredential=)"
                )
                raise layers.blame(SettingError("password_file", reason))
            return Path(folder) / str(path).removeprefix(variable + "/")
    return path


def _read_password(layers: Layers, path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        reason = f"cannot read {path}: {error.strerror}"
        raise layers.blame(SettingError("password_file", reason)) from None
    except UnicodeDecodeError:
        raise layers.blame(SettingError("password_file", f"{path} is not UTF-8 text")) from None
    password = text.removesuffix("\n").removesuffix("\r")  # editors end files with a newline
    if not password:
        raise layers.blame(SettingError("password_file", f"{path} is empty"))
    try:
        return _ascii(password)
    except ValueError as error:
        raise layers.blame(SettingError("password_file", f"{path} {error}")) from None


def _login(value: Any) -> str:
    return _ascii(text(value))


def _secret(value: Any) -> str:
    """Like _login, but a wrong value is not echoed: it may be the password."""
    if not isinstance(value, str):
        raise ValueError(f"must be text in quotes, not a {type(value).__name__}")
    return _ascii(value)


def _ascii(value: str) -> str:
    """smtplib encodes the login as ASCII: anything else would fail at every send."""
    if not value.isascii():
        raise ValueError("has non-ASCII characters, which the SMTP login cannot send")
    return value


def _host(value: Any) -> str:
    host = text(value).strip()
    if any(c.isspace() for c in host) or "/" in host:
        raise ValueError(f"must be a host name or address, not {show(value)}")
    if ":" in host:  # an IPv6 address, or "mail.example:587" with the port in the wrong place
        try:
            ipaddress.IPv6Address(host.strip("[]"))
        except ValueError:
            raise ValueError(
                f"must be a host name or address without a port (set port), not {show(value)}"
            ) from None
        return host.strip("[]")
    return host


def _port(value: Any) -> int:
    number = value
    if isinstance(value, str):
        number = int(value.strip()) if value.strip().isdigit() else None
    if not isinstance(number, int) or isinstance(number, bool) or not 0 <= number <= 65535:
        raise ValueError(f"must be a whole number from 0 to 65535 (0: usual), not {show(value)}")
    return number


def _seconds(value: Any) -> float:
    number = value
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    ok = isinstance(number, int | float) and not isinstance(number, bool)
    if not (ok and math.isfinite(number) and 0 < number <= 3600):
        raise ValueError(f"must be a number of seconds above 0, at most 3600, not {show(value)}")
    return float(number)


def _sender(value: Any) -> str:
    """Empty, or one address with an optional display name: what a From: header holds."""
    sender = text(value).strip()
    if not sender:
        return sender
    pairs = getaddresses([sender])
    address = pairs[0][1] if len(pairs) == 1 else ""
    local, at, domain = address.rpartition("@")
    if not (at and local and domain and not any(c.isspace() for c in address)):
        raise ValueError(
            f'must be one email address, e.g. "commaudit <commaudit@city.example>",'
            f" not {show(value)}"
        )
    return sender


_KINDS: dict[str, Callable[[Any], Any]] = {
    "host": _host,
    "port": _port,
    "security": choice(*SECURITIES),
    "username": _login,
    "password": _secret,
    "password_file": path(optional=True),
    "sender": _sender,
    "ca_file": path(optional=True),
    "timeout_s": _seconds,
}
"""How each setting is read and checked; a test holds it to the dataclass's fields."""
