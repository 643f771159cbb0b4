"""Which catalog web service a browser tab's hostname belongs to: the one match rule of the
catalog's `web.hosts`, and the form a pattern must have.

Why a module of its own: the rule is the whole of what the browser extension may ever tell the
agent about browsing, so it is kept small, strict and in one place; the extension's JavaScript
(agent/browser/extension/host_match.js) implements the same rule and is tested against it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")  # RFC 1123 letters-digits-hyphen
_MAX_HOSTNAME = 253
# Suffixes under which anyone can register a site: `*.` over one of them would claim the
# browsing of everyone else there. Single labels (com, org, ...) are refused anyway, since a
# pattern needs two labels; these are the multi-label ones a catalog author could plausibly
# write. Not the whole Public Suffix List: the agent must not depend on fetching it.
PUBLIC_SUFFIXES = frozenset(
    {
        *("co.uk", "org.uk", "ac.uk", "gov.uk", "ltd.uk", "plc.uk", "me.uk", "net.uk"),
        *("com.au", "net.au", "org.au", "gov.au", "edu.au", "co.nz", "org.nz", "govt.nz"),
        *("co.jp", "ne.jp", "or.jp", "co.kr", "or.kr", "com.cn", "net.cn", "org.cn", "gov.cn"),
        *("com.hk", "com.tw", "com.sg", "co.in", "net.in", "org.in", "gov.in", "co.id"),
        *("com.br", "net.br", "org.br", "gov.br", "com.mx", "com.ar", "co.za", "org.za"),
        *("com.tr", "com.ua", "co.il", "qc.ca", "on.ca", "bc.ca", "ab.ca"),
        # private suffixes: each subdomain is a different customer's site
        *("github.io", "gitlab.io", "blogspot.com", "appspot.com", "herokuapp.com"),
        *("azurewebsites.net", "cloudfront.net", "netlify.app", "vercel.app", "pages.dev"),
        *("web.app", "firebaseapp.com", "workers.dev", "onrender.com", "fly.dev"),
    }
)


def host_pattern_problem(pattern: str) -> str | None:
    """Why `pattern` is no hostname pattern (None: it is one). The extension implements the
    same match rule in JavaScript, so the form is kept to what both sides read alike."""
    if not pattern.isascii():
        return "is not ASCII: write an international name in punycode (xn--...)"
    if pattern != pattern.lower():
        return "is not lowercase"
    if any(c in pattern for c in ":/?#@[] "):
        return "is not a bare hostname: no scheme, port, path or spaces"
    if pattern.endswith("."):
        return "has a trailing dot"
    name = pattern.removeprefix("*.")
    if "*" in name:
        return "has a '*' other than a leading '*.'"
    if _dns_name(name) is None:
        return "is not a DNS name (labels of a-z, 0-9 and inner hyphens; not an IP address)"
    if name in PUBLIC_SUFFIXES:
        return "is a public suffix: it would claim every site registered under it"
    if "." not in name:
        return "needs at least two labels: a single label is a top-level domain"
    return None


def _dns_name(hostname: str) -> str | None:
    """`hostname` as the match rule compares it, or None when it is no DNS name: lowercased,
    one trailing dot dropped; letters-digits-hyphen labels; a last label of digits only is an
    IPv4 address (RFC 3696 §2: no top-level domain is all-numeric)."""
    name = hostname.lower()
    name = name[:-1] if name.endswith(".") else name
    if not name or len(name) > _MAX_HOSTNAME or not name.isascii():
        return None
    labels = name.split(".")
    if labels[-1].isdigit() or not all(_LABEL.fullmatch(label) for label in labels):
        return None
    return name


class _HostIndex:
    """The patterns split for the match rule: a dict per kind, so a lookup costs one probe
    per label of the hostname whatever the size of the catalog."""

    def __init__(self, hosts: Sequence[tuple[str, str]]) -> None:
        self.exact: dict[str, str] = {}
        self.suffix: dict[str, str] = {}  # `*.slack.com` -> "slack.com"
        for pattern, app_id in hosts:
            if pattern.startswith("*."):
                self.suffix[pattern[2:]] = app_id
            else:
                self.exact[pattern] = app_id

    def app(self, name: str) -> str | None:
        found = self.exact.get(name)
        while found is None and name:
            found = self.suffix.get(name)
            name = name.partition(".")[2]
        return found


_last_index: tuple[object, _HostIndex] | None = None


def host_app(hostname: str, hosts: Sequence[tuple[str, str]]) -> str | None:
    """The app whose pattern matches `hostname`, or None: the one match rule of the catalog
    (the extension's JavaScript implements the same). The hostname is lowercased and a trailing
    dot dropped; an exact pattern beats any wildcard; among wildcards the longest suffix wins;
    `*.x.com` matches x.com itself too. A hostname that is no DNS name (an IP address, a port,
    a space, unicode not in punycode) matches nothing.

    The agent calls this for every reported tab with the same `hosts` tuple, so the index of
    the last tuple is kept (a list is indexed afresh each call: it could change in place)."""
    global _last_index
    name = _dns_name(hostname)
    if name is None:
        return None
    cached = _last_index
    if cached is not None and cached[0] is hosts:
        index = cached[1]
    else:
        index = _HostIndex(hosts)
        if isinstance(hosts, tuple):
            _last_index = (hosts, index)
    return index.app(name)
