"""Catalog web services in ordinary browser tabs (issue 9): the extension's reports reach the
agent through a native-messaging host and a local socket, and become tab state the daemon reads.

Data flow: extension (extension/) -> browser stdio -> native_host -> Unix socket ->
agent_socket (peer credentials, strict checks) -> tab_state.BrowserTabs -> daemon's tracker.
Standard library only: the host runs once per browser profile on every device.
"""

from agent.browser.agent_socket import BrowserSocket
from agent.browser.framing import FramingError
from agent.browser.messages import BrowserConfig, MessageError, Tab
from agent.browser.socket_path import browser_socket_path
from agent.browser.tab_state import BrowserTabs, TabUse

__all__ = [
    "BrowserConfig",
    "BrowserSocket",
    "BrowserTabs",
    "FramingError",
    "MessageError",
    "Tab",
    "TabUse",
    "browser_socket_path",
]
