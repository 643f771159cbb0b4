"""Tab hostnames of the catalog (issue 9): real hosts for the services people use in a tab,
patterns held to one strict form, and the one match rule the agent and the extension share."""

from __future__ import annotations

import re
import time
import tomllib
from collections import Counter
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from agent.catalog import CatalogError, host_app, load_catalog, parse_catalog
from agent.central_config import LAST_GOOD_FILES, catalog_in_use
from agent.config import AgentConfig

PACKAGED = resources.files("agent").joinpath("catalog.toml").read_text(encoding="utf-8")
RAW = tomllib.loads(PACKAGED)
APPS: list[dict[str, Any]] = RAW["app"]
HOSTS = load_catalog().web_hosts()


def _raw_hosts() -> list[tuple[str, str]]:
    """(pattern, app id) as the file states them, read without the loader."""
    return [(h, app["id"]) for app in APPS for h in app.get("web", {}).get("hosts", [])]


def _well_formed(pattern: str) -> bool:
    """The contract's pattern form, restated: `*.` at most at the start, then two or more
    lowercase letters-digits-hyphen labels, the last not all digits, no public suffix."""
    label = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
    name = pattern.removeprefix("*.")
    return (
        re.fullmatch(rf"{label}(\.{label})+", name) is not None
        and not name.rsplit(".", 1)[1].isdigit()
        and name not in {"co.uk", "com.au", "co.jp", "com.br", "github.io", "blogspot.com"}
    )


def test_every_host_pattern_of_the_catalog_is_a_well_formed_hostname_pattern() -> None:
    raw = _raw_hosts()
    assert len(raw) >= 100
    assert [pattern for pattern, _ in raw if not _well_formed(pattern)] == []


def test_no_two_apps_claim_the_same_host_pattern() -> None:
    owners = Counter(pattern for pattern, _ in set(_raw_hosts()))
    assert [pattern for pattern, n in owners.items() if n > 1] == []


def test_web_hosts_lists_every_pattern_of_every_app_sorted() -> None:
    assert sorted(set(_raw_hosts())) == list(HOSTS)
    catalog = load_catalog()
    assert catalog.web_hosts() is catalog.web_hosts()  # host_app's index is kept for it
    assert {app_id for _, app_id in HOSTS} >= {"gmail", "youtube", "zoom", "facebook"}


def test_tab_hosts_cover_every_category_the_policy_names() -> None:
    catalog = load_catalog()
    by_category = Counter(catalog.app(app_id).category for app_id in {a for _, a in HOSTS})
    assert by_category == {
        "email": 11,
        "instant_messaging": 13,
        "text_messaging": 5,
        "social_networking": 18,
        "teleconferencing": 10,
        "video_sharing": 12,
    }


def test_an_app_without_a_web_client_has_no_hosts_and_a_limited_catalog_keeps_its_apps_hosts() -> (
    None
):
    catalog = load_catalog()
    assert catalog.app("thunderbird").hosts == ()
    assert catalog.app("youtube").hosts == ("youtube.com", "www.youtube.com", "m.youtube.com")
    video = catalog.only(lambda app: app.category == "video_sharing").web_hosts()
    assert ("www.youtube.com", "youtube") in video
    assert {app_id for _, app_id in video} == {
        "youtube", "vimeo", "loom", "tiktok", "twitch", "kick", "dailymotion", "rumble",
        "odysee", "nebula", "bilibili", "niconico",
    }  # fmt: skip
    assert host_app("mail.google.com", video) is None


def test_a_newer_central_catalog_in_use_carries_its_hosts(tmp_path: Path) -> None:
    own = load_catalog().version
    central = PACKAGED.replace(f'version = "{own}"', 'version = "2099.1"', 1).replace(
        'hosts = ["app.slack.com"]', 'hosts = ["app.slack.com", "*.slack-gov.com"]', 1
    )
    (tmp_path / LAST_GOOD_FILES["catalog"]).write_text(central)
    in_use = catalog_in_use(AgentConfig(state_dir=tmp_path))
    assert in_use.version == "2099.1"
    assert host_app("app.slack-gov.com", in_use.web_hosts()) == "slack"
    assert host_app("app.slack-gov.com", HOSTS) is None


# ----------------------------------------------------------------------------- the match rule

RULES = (
    ("mail.example.com", "mail"),
    ("*.example.com", "portal"),
    ("*.eu.example.com", "europe"),
    ("example.org", "bare"),
    ("*.sub.example.net", "wild"),
)


@pytest.mark.parametrize(
    ("hostname", "expected"),
    [
        ("mail.example.com", "mail"),  # exact beats the wildcard over it
        ("docs.example.com", "portal"),
        ("example.com", "portal"),  # `*.x` matches x itself
        ("a.b.example.com", "portal"),  # and any depth under it
        ("eu.example.com", "europe"),  # the longest wildcard suffix wins
        ("mail.eu.example.com", "europe"),
        ("deep.mail.example.com", "portal"),  # an exact pattern covers one host only
        ("example.org", "bare"),
        ("www.example.org", None),  # a bare pattern has no subdomains
        ("sub.example.net", "wild"),
        ("example.net", None),
        ("xsub.example.net", None),  # a suffix is matched at a label boundary
        ("notexample.com", None),
        ("example.com.evil.test", None),
        ("MAIL.Example.COM", "mail"),  # case does not matter
        ("mail.example.com.", "mail"),  # nor one trailing dot
        ("Example.COM.", "portal"),
        ("mail.example.com..", None),  # two are no DNS name
    ],
)
def test_the_match_rule_on_hand_stated_cases(hostname: str, expected: str | None) -> None:
    assert host_app(hostname, RULES) == expected
    assert host_app(hostname, list(RULES)) == expected  # any sequence, not only a tuple


@pytest.mark.parametrize(
    "hostname",
    [
        "", ".", "..", "a b", "x:80", "mail.example.com:443", "https://mail.example.com",
        "mail.example.com/inbox", "127.0.0.1", "10.0.0.1", "192.168.1.1.", "[::1]", "::1",
        "*.example.com", "mail_x.example.com", "-mail.example.com", "mail-.example.com",
        "mail..example.com", ".example.com", "\u0440\u0443.example.com", "m\u00e4il.example.com",
        "a" * 64 + ".example.com", ("a" * 62 + ".") * 4 + "example.com", "mail.example.com\n",
    ],
)  # fmt: skip
def test_a_hostname_that_is_no_dns_name_matches_nothing(hostname: str) -> None:
    assert host_app(hostname, (*RULES, ("*.0.0.1", "ip"))) is None


def test_a_punycode_hostname_is_a_dns_name() -> None:
    assert host_app("xn--mil-sna.example.com", RULES) == "portal"
    assert host_app("a" * 63 + ".example.com", RULES) == "portal"


def test_the_last_hosts_index_is_never_used_for_other_hosts() -> None:
    first = (("*.example.com", "a"),)
    second = (("*.example.com", "b"),)
    assert host_app("x.example.com", first) == "a"
    assert host_app("x.example.com", second) == "b"
    assert host_app("x.example.com", first) == "a"
    changing = [("*.example.com", "a")]
    assert host_app("x.example.com", changing) == "a"
    changing[0] = ("*.example.com", "c")
    assert host_app("x.example.com", changing) == "c"


def test_matching_a_tab_costs_microseconds() -> None:
    names = ["www.youtube.com", "a.b.c.d.e.example.com", "www.bbc.co.uk", "city.zoom.us"] * 2500
    host_app("warm.example.com", HOSTS)
    started = time.perf_counter()
    found = [host_app(name, HOSTS) for name in names]
    elapsed = time.perf_counter() - started
    assert found[:4] == ["youtube", None, None, "zoom"]
    assert elapsed < 0.5, f"{len(names)} lookups took {elapsed:.3f} s"


# ----------------------------------------------------------------------------- real hostnames


@pytest.mark.parametrize(
    ("hostname", "expected"),
    [
        # email
        ("mail.google.com", "gmail"),
        ("outlook.office.com", "outlook"),
        ("outlook.office365.com", "outlook"),
        ("outlook.cloud.microsoft", "outlook"),
        ("outlook.live.com", "outlook-com"),
        ("mail.proton.me", "proton-mail"),
        ("mail.yahoo.com", "yahoo-mail"),
        ("uk.mail.yahoo.com", "yahoo-mail"),
        ("mail.aol.com", "aol-mail"),
        ("app.tuta.com", "tuta-mail"),
        ("app.fastmail.com", "fastmail"),
        ("mail.zoho.eu", "zoho-mail"),
        # web chat and SMS
        ("app.slack.com", "slack"),
        ("teams.microsoft.com", "teams"),
        ("teams.live.com", "teams"),
        ("teams.cloud.microsoft", "teams"),
        ("chat.google.com", "google-chat"),
        ("discord.com", "discord"),
        ("ptb.discord.com", "discord"),
        ("web.whatsapp.com", "whatsapp"),
        ("web.telegram.org", "telegram"),
        ("www.messenger.com", "messenger"),
        ("app.element.io", "element"),
        ("city.zulipchat.com", "zulip"),
        ("messages.google.com", "google-messages"),
        ("voice.google.com", "google-voice"),
        # social networks
        ("www.facebook.com", "facebook"),
        ("m.facebook.com", "facebook"),
        ("facebook.com", "facebook"),
        ("www.instagram.com", "instagram"),
        ("x.com", "x"),
        ("twitter.com", "x"),
        ("mobile.twitter.com", "x"),
        ("www.linkedin.com", "linkedin"),
        ("www.reddit.com", "reddit"),
        ("old.reddit.com", "reddit"),
        ("www.threads.net", "threads"),
        ("www.pinterest.co.uk", "pinterest"),
        ("bsky.app", "bluesky"),
        ("mastodon.social", "mastodon"),
        ("staff.tumblr.com", "tumblr"),
        ("web.yammer.com", "viva-engage"),
        # video sharing
        ("www.youtube.com", "youtube"),
        ("m.youtube.com", "youtube"),
        ("youtube.com", "youtube"),
        ("www.tiktok.com", "tiktok"),
        ("vimeo.com", "vimeo"),
        ("www.twitch.tv", "twitch"),
        ("www.dailymotion.com", "dailymotion"),
        ("www.loom.com", "loom"),
        # web conferencing
        ("zoom.us", "zoom"),
        ("app.zoom.us", "zoom"),
        ("us02web.zoom.us", "zoom"),
        ("city.zoomgov.com", "zoom"),
        ("meet.google.com", "google-meet"),
        ("city.webex.com", "webex"),
        ("meet.jit.si", "jitsi-meet"),
        ("facetime.apple.com", "facetime"),
        # how a browser may spell them
        ("WWW.YouTube.com", "youtube"),
        ("mail.google.com.", "gmail"),
    ],
)
def test_real_hostnames_map_to_their_app(hostname: str, expected: str) -> None:
    assert host_app(hostname, HOSTS) == expected


@pytest.mark.parametrize(
    "hostname",
    [
        # news and search: never communication, never reported
        "www.bbc.co.uk", "www.nytimes.com", "www.theguardian.com", "www.cbc.ca", "news.yahoo.com",
        "www.yahoo.com", "news.google.com", "www.google.com", "google.com", "www.bing.com",
        "duckduckgo.com", "en.wikipedia.org",
        # the same companies' other services, and product sites of the apps
        "docs.google.com", "drive.google.com", "www.microsoft.com", "www.office.com",
        "slack.com", "www.whatsapp.com", "telegram.org", "support.discord.com", "www.icloud.com",
        "music.youtube.com", "studio.youtube.com", "youtu.be", "www.fastmail.com",
        # no DNS name at all
        "127.0.0.1", "localhost",
    ],
)  # fmt: skip
def test_news_search_and_other_sites_map_to_nothing(hostname: str) -> None:
    assert host_app(hostname, HOSTS) is None


# ----------------------------------------------------------------------------- validation

APP = 'id = "{id}"\nname = "A"\nvendor = "V"\ncategory = "email"\nuse = "business"\n'


def _catalog(*webs: str) -> str:
    apps = "".join(
        "[[app]]\n" + APP.format(id=chr(ord("a") + n)) + f"web = {{ {web} }}\n"
        for n, web in enumerate(webs)
    )
    return f'schema = 1\nversion = "t"\n[browsers]\nlinux = ["chrome"]\n{apps}'


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        ("Mail.example.com", "is not lowercase"),
        ("mail.example.com.", "has a trailing dot"),
        ("https://mail.example.com", "is not a bare hostname: no scheme, port, path or spaces"),
        ("mail.example.com:443", "is not a bare hostname"),
        ("mail.example.com/inbox", "is not a bare hostname"),
        ("mail example.com", "is not a bare hostname"),
        ("*", "has a '\\*' other than a leading '\\*\\.'"),
        ("mail.*.com", "has a '\\*' other than a leading '\\*\\.'"),
        ("*.*.example.com", "has a '\\*' other than a leading '\\*\\.'"),
        ("*example.com", "has a '\\*' other than a leading '\\*\\.'"),
        ("*.com", "needs at least two labels: a single label is a top-level domain"),
        ("localhost", "needs at least two labels"),
        ("*.co.uk", "is a public suffix: it would claim every site registered under it"),
        ("co.uk", "is a public suffix"),
        ("*.github.io", "is a public suffix"),
        ("1.2.3.4", "is not a DNS name \\(labels of a-z, 0-9 and inner hyphens; not an IP"),
        ("mail_x.example.com", "is not a DNS name"),
        ("-x.example.com", "is not a DNS name"),
        ("x..example.com", "is not a DNS name"),
        ("a" * 64 + ".example.com", "is not a DNS name"),
        ("m\u00e4il.example.com", "is not ASCII: write an international name in punycode"),
    ],
)
def test_a_bad_host_pattern_is_refused_naming_file_app_field_and_pattern(
    pattern: str, problem: str
) -> None:
    shown = re.escape(repr(pattern))
    with pytest.raises(CatalogError, match=rf"^bad\.toml: app 'a' \(#1\): web\.hosts: {shown} "):
        parse_catalog(_catalog(f"hosts = [{pattern!r}]"), "bad.toml")
    with pytest.raises(CatalogError, match=problem):
        parse_catalog(_catalog(f"hosts = [{pattern!r}]"), "bad.toml")


@pytest.mark.parametrize(
    ("webs", "message"),
    [
        (("hosts = ['x.example.com']", "hosts = ['x.example.com']"),
         r"^bad\.toml: app 'b' \(#2\): web\.hosts: 'x\.example\.com' is already claimed by"
         r" app 'a'$"),
        (("hosts = ['*.example.com']", "cmdline_patterns = ['--app=y'], hosts = ['*.example.com']"),
         r"^bad\.toml: app 'b' \(#2\): web\.hosts: '\*\.example\.com' is already claimed by app"),
        (("hosts = 'x.example.com'",),
         r"^bad\.toml: app 'a' \(#1\): web\.hosts: must be a list of non-empty strings$"),
        (("hosts = ['']",),
         r"^bad\.toml: app 'a' \(#1\): web\.hosts: must be a list of non-empty strings$"),
        (("hosts = [7]",),
         r"^bad\.toml: app 'a' \(#1\): web\.hosts: must be a list of non-empty strings$"),
        (("hosts = []",),
         r"^bad\.toml: app 'a' \(#1\): web: empty rule: no cmdline_patterns, hosts$"),
        (("host = ['x.example.com']",), r"^bad\.toml: app 'a' \(#1\): web\.host: unknown key$"),
    ],
)  # fmt: skip
def test_a_bad_hosts_list_is_refused_naming_file_app_and_field(
    webs: tuple[str, ...], message: str
) -> None:
    with pytest.raises(CatalogError, match=message):
        parse_catalog(_catalog(*webs), "bad.toml")


def test_an_exact_host_and_a_wildcard_over_it_may_belong_to_two_apps() -> None:
    catalog = parse_catalog(
        _catalog("hosts = ['*.example.com']", "hosts = ['mail.example.com', 'mail.example.com']"),
        "good.toml",
    )
    assert catalog.app("b").hosts == ("mail.example.com",)  # a repeat in one app is dropped
    assert catalog.web_hosts() == (("*.example.com", "a"), ("mail.example.com", "b"))
    assert host_app("mail.example.com", catalog.web_hosts()) == "b"
    assert host_app("www.example.com", catalog.web_hosts()) == "a"


def test_an_app_seen_only_in_tabs_matches_no_process() -> None:
    catalog = parse_catalog(_catalog("hosts = ['x.example.com']"), "good.toml")
    assert catalog.app("a").hosts == ("x.example.com",)
    matcher = catalog.matcher_for("linux")
    assert matcher.match("chrome", "", ["chrome", "--app=https://x.example.com/"]) is None
    assert matcher.process_names == frozenset()


def test_a_bad_host_pattern_in_a_catalog_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "catalog.toml"
    path.write_text(_catalog("hosts = ['*.com']"))
    with pytest.raises(CatalogError) as refused:
        load_catalog(path)
    assert str(refused.value).startswith(f"{path}: app 'a' (#1): web.hosts: '*.com' needs")
