"""What `status` and `scan --once` describe: the agent's own catalog, or the collector's last
good copy in the state directory when that is newer (agent/central_config.py)."""

from __future__ import annotations

from dataclasses import replace
from importlib import resources
from pathlib import Path

from agent.catalog import load_catalog
from agent.central_config import LAST_GOOD_FILES, catalog_in_use
from agent.config import AgentConfig

PACKAGED = resources.files("agent").joinpath("catalog.toml").read_text(encoding="utf-8")


def with_version(version: str) -> str:
    own = load_catalog().version
    return PACKAGED.replace(f'version = "{own}"', f'version = "{version}"', 1)


def test_a_newer_central_catalog_is_the_one_in_use_and_an_older_or_broken_one_is_not(
    tmp_path: Path,
) -> None:
    config = AgentConfig(state_dir=tmp_path)
    saved = tmp_path / LAST_GOOD_FILES["catalog"]
    own = load_catalog().version
    assert catalog_in_use(config).version == own  # nothing saved
    saved.write_text(with_version("2099.1"))
    assert catalog_in_use(config).version == "2099.1"
    assert catalog_in_use(replace(config, config_poll_interval_s=0)).version == own
    saved.write_text(with_version("2000.1"))
    assert catalog_in_use(config).version == own
    saved.write_text("schema = 1\nversion = 3000.1\n[[app]]\nid = 7\n")
    assert catalog_in_use(config).version == own
