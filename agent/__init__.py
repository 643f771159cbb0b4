"""The commaudit agent: sees communication apps on a device and reports them, losing nothing.

Data flow: scan (psutil) -> catalog match -> tracker (sessions) -> spool (SQLite) -> sender (gRPC).
It imports no database or analytics code: it runs on every device and must cost almost nothing.
"""

from agent.catalog import App, Catalog, CatalogError, load_catalog
from agent.config import AgentConfig, ConfigError, load_config
from agent.daemon import AgentDaemon, open_agent
from agent.scan import Scanner
from agent.sender import Sender, SenderSettings
from agent.spool import Spool
from agent.tracker import SessionTracker

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
