"""The distribution's promises: the agent alone installs and imports no database code."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys

import pytest

SERVER_ONLY = ("duckdb", "pyarrow", "typer", "rich", "grpcio")
"""grpcio too: the agent speaks gRPC through h2 (agent/collector_channel.py), for its memory."""


def test_installing_the_agent_alone_pulls_in_no_database_or_cli_libraries() -> None:
    requirements = importlib.metadata.requires("commaudit") or []
    unconditional = [r for r in requirements if "extra ==" not in r]
    assert unconditional, "the agent's own dependencies are declared"
    for requirement in unconditional:
        assert not requirement.lower().startswith(SERVER_ONLY), requirement


def test_the_agent_imports_no_collector_analytics_database_or_grpcio_module() -> None:
    probe = (
        "import sys, agent, agent.cli, agent.daemon, agent.sender, agent.scan, agent.status\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in"
        " ('duckdb', 'pyarrow', 'collector', 'analytics', 'typer', 'rich', 'grpc'))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


@pytest.mark.parametrize("script", ["commaudit-agent", "commaudit-collector", "commaudit"])
def test_every_console_script_is_installed(script: str) -> None:
    names = {ep.name for ep in importlib.metadata.entry_points(group="console_scripts")}
    assert script in names
