"""The commaudit agent: sees communication apps on a device and reports them, losing nothing.

Data flow: scan (psutil) -> catalog match -> tracker (sessions) -> spool (SQLite) -> sender (gRPC).
It imports no database or analytics code: it runs on every device and must cost almost nothing.

The names below are imported when first used, not with the package: `commaudit-browser-host`
(agent.browser) runs once per browser profile on every device and needs none of gRPC, protobuf
or psutil, which importing them all here would load at its every start.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent.catalog import App, Catalog, CatalogError, load_catalog
    from agent.config import AgentConfig, ConfigError, load_config
    from agent.daemon import AgentDaemon, open_agent
    from agent.scan import Scanner
    from agent.sender import Sender, SenderSettings
    from agent.spool import Spool
    from agent.tracker import SessionTracker

_HOMES = {
    "AgentConfig": "agent.config",
    "AgentDaemon": "agent.daemon",
    "App": "agent.catalog",
    "Catalog": "agent.catalog",
    "CatalogError": "agent.catalog",
    "ConfigError": "agent.config",
    "Scanner": "agent.scan",
    "Sender": "agent.sender",
    "SenderSettings": "agent.sender",
    "SessionTracker": "agent.tracker",
    "Spool": "agent.spool",
    "load_catalog": "agent.catalog",
    "load_config": "agent.config",
    "open_agent": "agent.daemon",
}

__all__ = [
    "AgentConfig",
    "AgentDaemon",
    "App",
    "Catalog",
    "CatalogError",
    "ConfigError",
    "Scanner",
    "Sender",
    "SenderSettings",
    "SessionTracker",
    "Spool",
    "load_catalog",
    "load_config",
    "open_agent",
]


def __getattr__(name: str) -> Any:
    """`agent.Spool` and `from agent import Spool`: the module holding it, imported now."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'agent' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # once is enough
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
