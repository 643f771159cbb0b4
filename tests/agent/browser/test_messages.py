"""The protocol's messages: exactly the contract's fields and types, each refusal naming its
field."""

from __future__ import annotations

from typing import Any

import pytest

from agent.browser.messages import (
    NOTHING_COLLECTED,
    BrowserConfig,
    Hello,
    Keepalive,
    MessageError,
    Refused,
    Tab,
    Tabs,
    encode,
    parse_from_agent,
    parse_from_extension,
)
from tests.agent.browser.browser_harness import CONFIG, CONFIG_JSON, HELLO, tab, tabs_message

STAMPED = {**HELLO, "os_user": "ana"}
"""A hello as the host forwards it."""


def from_extension(raw: Any, *, os_user_added: bool = True) -> object:
    return parse_from_extension(raw, CONFIG, os_user_added=os_user_added)


def test_each_message_from_the_extension_parses_into_its_dataclass() -> None:
    assert from_extension({**HELLO, "os_user": "ana"}) == Hello("chromium", "1.0.0", "ana")
    assert from_extension(HELLO, os_user_added=False) == Hello("chromium", "1.0.0", None)
    assert from_extension({"type": "keepalive"}) == Keepalive()
    assert from_extension(
        tabs_message(tab("gmail", focused=True), tab("youtube", audible=True, incognito=True))
    ) == Tabs((Tab("gmail", True, False, False), Tab("youtube", False, True, True)))


def test_encoding_gives_back_the_json_the_other_side_parses() -> None:
    assert encode(CONFIG) == CONFIG_JSON
    assert parse_from_agent(CONFIG_JSON) == CONFIG
    assert encode(Refused("no")) == {"type": "refused", "reason": "no"}
    assert parse_from_agent({"type": "refused", "reason": "no"}) == Refused("no")
    hello: dict[str, object] = {**HELLO, "os_user": "ana"}
    assert encode(parse_from_extension(hello, CONFIG, os_user_added=True)) == hello
    tabs = tabs_message(tab("slack", focused=True))
    assert encode(parse_from_extension(tabs, CONFIG, os_user_added=True)) == tabs


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ({}, "type: missing"),
        ({"type": "tab"}, "type: 'tab' is not one of hello, tabs, keepalive"),
        ({"type": 1}, "type: 1 is not one of"),
        ({**STAMPED, "browser": "safari"}, "browser: 'safari' is not one of chromium, chrome,"),
        ({**STAMPED, "extension_version": "1.x"}, "extension_version: '1.x' is not a version"),
        ({**STAMPED, "extension_version": 1}, "extension_version: expected a string, got number"),
        ({**HELLO, "url": "https://x"}, "url: not a field of hello"),
        ({"type": "hello", "browser": "edge"}, "extension_version: missing from hello"),
        (HELLO, "os_user: missing from hello"),
        ({**HELLO, "os_user": ""}, "os_user: expected 1 to 256 characters, got 0"),
        ({"type": "keepalive", "at": 1}, "at: not a field of keepalive"),
        ({"type": "tabs"}, "tabs: missing from tabs"),
        ({"type": "tabs", "tabs": {}}, "tabs: expected an array, got object"),
        (tabs_message(*[tab("gmail")] * 501), "tabs: 501 tabs, more than the limit of 500"),
        (tabs_message("gmail"), r"tabs\[0\]: expected an object, got string"),
        (tabs_message(tab("gmail"), tab("news")), r"tabs\[1\].app: 'news' is not an app"),
        (tabs_message({**tab("gmail"), "focused": 1}), r"tabs\[0\].focused: expected true or"),
        (tabs_message({**tab("gmail"), "audible": None}), r"tabs\[0\].audible: .* got null"),
        (tabs_message({**tab("gmail"), "title": "Inbox"}), r"tabs\[0\].title: not a field"),
        (tabs_message({"app": "gmail"}), r"tabs\[0\].audible: missing from tabs\[0\]"),
    ],
)
def test_a_message_not_exactly_the_protocol_is_refused_naming_the_field(
    raw: Any, error: str
) -> None:
    with pytest.raises(MessageError, match=f"^{error}"):
        from_extension(raw)


def test_a_boolean_must_be_a_json_boolean_not_a_number() -> None:
    with pytest.raises(MessageError, match=r"^tabs\[0\].incognito: .* got number 0$"):
        from_extension(tabs_message({**tab("gmail"), "incognito": 0}))


def test_the_extension_may_not_say_who_its_user_is() -> None:
    with pytest.raises(MessageError, match=r"^os_user: set by the native host"):
        from_extension({**HELLO, "os_user": "root"}, os_user_added=False)


def test_tabs_need_a_config_and_a_profile_that_collects() -> None:
    tabs = tabs_message(tab("gmail"))
    with pytest.raises(MessageError, match=r"^tabs: sent before the agent's config$"):
        parse_from_extension(tabs, None, os_user_added=False)
    personal = BrowserConfig(collect=False, report_incognito=False, hosts=CONFIG.hosts)
    with pytest.raises(MessageError) as refused:
        parse_from_extension(tabs, personal, os_user_added=True)
    assert str(refused.value) == f"tabs: {NOTHING_COLLECTED}"
    assert "(§3.2)" in NOTHING_COLLECTED


def test_a_long_bad_value_is_cut_short_in_the_refusal() -> None:
    with pytest.raises(MessageError) as refused:
        from_extension({**STAMPED, "browser": "x" * 10000})
    assert len(str(refused.value)) < 200


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ({**CONFIG_JSON, "collect": "yes"}, "collect: expected true or false"),
        ({**CONFIG_JSON, "hosts": [["a.com"]]}, r"hosts\[0\]: expected \[pattern, app id\]"),
        ({"type": "refused"}, "reason: missing from refused"),
        ({"type": "tabs", "tabs": []}, "type: 'tabs' is not one of config, refused"),
    ],
)
def test_a_bad_message_from_the_agent_is_refused_too(raw: Any, error: str) -> None:
    with pytest.raises(MessageError, match=f"^{error}"):
        parse_from_agent(raw)
