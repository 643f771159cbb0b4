"""SMTP settings: options > environment > file > defaults; errors name where, what and why; the
password is never shown; the packaged example documents exactly the settings there are."""

from __future__ import annotations

import re
import tomllib
from dataclasses import fields
from pathlib import Path

import pytest

from agent.layered_settings import Origin
from analytics.summaries.smtp_settings import (
    _KINDS,
    ConfigError,
    SmtpSettings,
    load_smtp_settings,
)
from tests.analytics.summaries.smtp_server import make_certificates

EXAMPLE = Path(__file__).parents[3] / "packaging" / "config" / "summaries.toml"
SECRET = "correct-horse-battery"


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "summaries.toml"
    path.write_text(text)
    return path


def _error(file: Path | None, env: dict[str, str] | None = None, **flags: object) -> str:
    with pytest.raises(ConfigError) as caught:
        load_smtp_settings(file, env or {}, flags)
    return str(caught.value)


def test_options_beat_environment_beat_file_beat_defaults(tmp_path: Path) -> None:
    file = _file(
        tmp_path,
        'host = "file.city.example"\nport = 2525\nsecurity = "tls"\n'
        'sender = "commaudit <commaudit@city.example>"\n',
    )
    env = {"COMMAUDIT_SMTP_HOST": "env.city.example", "COMMAUDIT_SMTP_SECURITY": "STARTTLS"}
    effective = load_smtp_settings(file, env, {"host": "flag.city.example", "username": None})
    settings = effective.config
    assert (settings.host, settings.security, settings.port) == (
        "flag.city.example",
        "starttls",
        2525,
    )
    assert (settings.username, settings.timeout_s, settings.ca_file) == ("", 30.0, None)
    assert effective.origins["host"] == Origin("flag", "--host")
    assert effective.origins["security"] == Origin("env", "COMMAUDIT_SMTP_SECURITY")
    assert effective.origins["port"] == Origin("file", str(file))
    assert effective.origins["username"] == Origin("default")


def test_port_zero_means_the_usual_port_of_the_security() -> None:
    assert SmtpSettings().server_port == 587
    assert SmtpSettings(security="tls").server_port == 465
    assert SmtpSettings(security="none").server_port == 25
    assert SmtpSettings(security="tls", port=2465).server_port == 2465


def test_the_envelope_sender_is_the_bare_address_of_the_sender() -> None:
    assert SmtpSettings(sender="commaudit <audit@city.example>").sender_address == (
        "audit@city.example"
    )
    assert SmtpSettings(sender="audit@slcpl.example").sender_address == "audit@slcpl.example"


def test_an_unknown_key_names_the_file_and_the_likely_setting(tmp_path: Path) -> None:
    file = _file(tmp_path, 'sendr = "a@city.example"\n')
    assert _error(file) == f"{file}: sendr: unknown setting (did you mean sender?)"


def test_an_unknown_variable_names_the_likely_variable() -> None:
    assert _error(None, {"COMMAUDIT_SMTP_PASWORD": "x"}) == (
        "COMMAUDIT_SMTP_PASWORD: unknown setting (did you mean COMMAUDIT_SMTP_PASSWORD?)"
    )


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("port = 70000", "port: must be a whole number from 0 to 65535 (0: usual), not 70000"),
        ('port = "smtp"', 'port: must be a whole number from 0 to 65535 (0: usual), not "smtp"'),
        ('security = "ssl"', 'security: must be one of starttls, tls, none, not "ssl"'),
        (
            'sender = "commaudit"',
            'sender: must be one email address, e.g. "commaudit <commaudit@city.example>",'
            ' not "commaudit"',
        ),
        (
            'sender = "a@city.example, b@city.example"',
            'sender: must be one email address, e.g. "commaudit <commaudit@city.example>",'
            ' not "a@city.example, b@city.example"',
        ),
        (
            'host = "mail.city.example:587"',
            "host: must be a host name or address without a port (set port),"
            ' not "mail.city.example:587"',
        ),
        ("timeout_s = 0", "timeout_s: must be a number of seconds above 0, at most 3600, not 0"),
        ("username = 7", "username: must be text in quotes, not 7"),
    ],
)
def test_a_bad_value_in_the_file_is_named_with_the_file(
    tmp_path: Path, line: str, message: str
) -> None:
    file = _file(tmp_path, line + "\n")
    assert _error(file) == f"{file}: {message}"


def test_a_bad_value_in_the_environment_names_the_variable() -> None:
    message = _error(None, {"COMMAUDIT_SMTP_PORT": "587/tcp"})
    assert message == (
        'COMMAUDIT_SMTP_PORT: must be a whole number from 0 to 65535 (0: usual), not "587/tcp"'
    )


def test_an_ipv6_host_is_taken_without_brackets() -> None:
    settings = load_smtp_settings(None, {}, {"host": "[::1]", "sender": "a@city.example"}).config
    assert settings.host == "::1"


def test_a_login_without_tls_is_refused_as_sending_the_password_in_clear(tmp_path: Path) -> None:
    file = _file(tmp_path, 'security = "none"\n')
    message = _error(file, {"COMMAUDIT_SMTP_USERNAME": "mailer"})
    assert message == (
        f'{file}: security: "none" would send the password in clear: with a username, use'
        " starttls or tls (none is for a relay that needs no login)"
    )


def test_a_relay_without_tls_or_login_is_accepted() -> None:
    flags = {"host": "relay.city.internal", "security": "none", "sender": "a@city.example"}
    settings = load_smtp_settings(None, {}, flags).config
    assert (settings.security, settings.server_port, settings.username) == ("none", 25, "")


def test_a_password_without_a_username_is_refused() -> None:
    message = _error(None, {"COMMAUDIT_SMTP_PASSWORD": SECRET})
    assert message == "username: a password is set, so the username must be set too"
    assert SECRET not in message


def test_a_host_without_a_sender_is_refused() -> None:
    assert _error(None, host="mail.city.example") == (
        'sender: required to send: the From address, e.g. "commaudit <commaudit@city.example>"'
    )


def test_a_missing_or_wrong_ca_file_is_named_at_load(tmp_path: Path) -> None:
    ca_file = tmp_path / "city-ca.pem"
    message = _error(None, {"COMMAUDIT_SMTP_CA_FILE": str(ca_file)})
    assert message == f"COMMAUDIT_SMTP_CA_FILE: {ca_file}: no such file"
    for text in ("not a certificate\n", "-----BEGIN CERTIFICATE-----\nAAAA\n"):
        ca_file.write_text(text)
        message = _error(None, {"COMMAUDIT_SMTP_CA_FILE": str(ca_file)})
        assert message == (
            f"COMMAUDIT_SMTP_CA_FILE: {ca_file}: no PEM certificate could be read from it"
        )


def test_a_ca_file_is_taken_when_it_holds_a_certificate(tmp_path: Path) -> None:
    ca_file = make_certificates(tmp_path).ca_file
    assert load_smtp_settings(None, {}, {"ca_file": str(ca_file)}).config.ca_file == ca_file


def test_the_password_is_never_printed_by_describe_or_repr(tmp_path: Path) -> None:
    file = _file(
        tmp_path,
        'host = "mail.city.example"\nusername = "mailer"\n'
        'sender = "commaudit <commaudit@city.example>"\n',
    )
    effective = load_smtp_settings(file, {"COMMAUDIT_SMTP_PASSWORD": SECRET}, {})
    assert effective.config.password == SECRET
    described = effective.describe()
    assert SECRET not in described and SECRET not in repr(effective.config)
    assert SECRET not in repr(effective)
    lines = {line.split()[0]: line for line in described.splitlines()}
    assert re.fullmatch(
        r'password\s+= "\(set\)"\s+# env COMMAUDIT_SMTP_PASSWORD', lines["password"]
    )
    assert re.fullmatch(rf'host\s+= "mail.city.example"\s+# file {file}', lines["host"])
    assert list(lines) == [f.name for f in fields(SmtpSettings)]


def test_describe_shows_an_empty_password_when_none_is_set() -> None:
    lines = load_smtp_settings(None, {}, {}).describe().splitlines()
    shown = [line for line in lines if line.startswith("password ")]
    assert len(shown) == 1 and re.fullmatch(r'password\s+= ""\s+# default', shown[0])


def test_a_non_ascii_password_is_refused_without_echoing_it() -> None:
    env = {"COMMAUDIT_SMTP_USERNAME": "mailer", "COMMAUDIT_SMTP_PASSWORD": "pässwörd"}
    message = _error(None, env)
    assert message == (
        "COMMAUDIT_SMTP_PASSWORD: has non-ASCII characters, which the SMTP login cannot send"
    )


def test_the_password_file_is_read_at_load_without_its_line_break(tmp_path: Path) -> None:
    secret = tmp_path / "smtp-password"
    secret.write_text(SECRET + "\n")
    file = _file(tmp_path, f'username = "mailer"\npassword_file = "{secret}"\n')
    effective = load_smtp_settings(file, {}, {})
    assert (effective.config.password, effective.config.password_file) == (SECRET, secret)
    assert effective.origins["password"] == Origin("file", str(secret))
    assert SECRET not in effective.describe()


def test_the_password_file_may_name_the_systemd_credentials_directory(tmp_path: Path) -> None:
    (tmp_path / "smtp-password").write_text(SECRET)
    flags = {"username": "mailer", "password_file": "$CREDENTIALS_DIRECTORY/smtp-password"}
    settings = load_smtp_settings(None, {"CREDENTIALS_DIRECTORY": str(tmp_path)}, flags).config
    assert (settings.password, settings.password_file) == (SECRET, tmp_path / "smtp-password")
    assert _error(None, {}, **flags) == (
        "--password-file: $CREDENTIALS_DIRECTORY/smtp-password: CREDENTIALS_DIRECTORY is not set"
        " (systemd sets it for a unit with LoadCredential=)"
    )


def test_a_password_and_a_password_file_together_are_refused(tmp_path: Path) -> None:
    secret = tmp_path / "smtp-password"
    secret.write_text(SECRET)
    file = _file(tmp_path, f'username = "mailer"\npassword_file = "{secret}"\n')
    message = _error(file, {"COMMAUDIT_SMTP_PASSWORD": "other"})
    assert message == (
        f"{file}: password_file: set password or password_file, not both"
        " (password is also set by COMMAUDIT_SMTP_PASSWORD)"
    )


def test_a_missing_or_empty_password_file_is_named(tmp_path: Path) -> None:
    secret = tmp_path / "smtp-password"
    env = {"COMMAUDIT_SMTP_USERNAME": "mailer", "COMMAUDIT_SMTP_PASSWORD_FILE": str(secret)}
    assert _error(None, env) == (
        f"COMMAUDIT_SMTP_PASSWORD_FILE: cannot read {secret}: No such file or directory"
    )
    secret.write_text("\n")
    assert _error(None, env) == f"COMMAUDIT_SMTP_PASSWORD_FILE: {secret} is empty"


def documented(example: Path) -> dict[str, str]:
    """Each documented setting -> the TOML text of its commented-out default."""
    return dict(re.findall(r"^# ([a-z_]+) = (.+)$", example.read_text(), re.MULTILINE))


def test_the_example_documents_every_setting_at_its_default() -> None:
    shown = documented(EXAMPLE)
    names = [f.name for f in fields(SmtpSettings)]
    assert list(shown) == names
    defaults = SmtpSettings()
    for name, text in shown.items():
        value = tomllib.loads(f"v = {text}")["v"]
        default = getattr(defaults, name)
        assert value == ("" if default is None else default), name


def test_the_example_loads_as_is_and_with_every_line_uncommented(tmp_path: Path) -> None:
    assert load_smtp_settings(EXAMPLE, {}, {}).config == SmtpSettings()
    text = re.sub(r"^# ([a-z_]+ = )", r"\1", EXAMPLE.read_text(), flags=re.MULTILINE)
    assert load_smtp_settings(_file(tmp_path, text), {}, {}).config == SmtpSettings()


def test_every_setting_has_a_reader() -> None:
    assert list(_KINDS) == [f.name for f in fields(SmtpSettings)]
