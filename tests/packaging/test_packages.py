"""The .deb packages as dpkg sees them: metadata, conffiles, files, maintainer scripts.

Each package is built whole (the project's wheel and every dependency's), as `make packages`
builds it: pip's cache makes that a few seconds, and a package without its dependencies would
not be the one that gets installed.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.packaging.conftest import REPO, build_script

pytestmark = pytest.mark.skipif(
    shutil.which("dpkg-deb") is None, reason="dpkg-deb is missing: .deb packages cannot be read"
)

PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
NEXT_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor + 1}"
VERSION = build_script.project_version()
UNIT_DIR = "usr/lib/systemd/system"


def field(deb: Path, name: str) -> str:
    return dpkg_deb("--field", str(deb), name).strip()


def dpkg_deb(*args: str) -> str:
    return subprocess.run(["dpkg-deb", *args], capture_output=True, text=True, check=True).stdout


def wheel_names(deb: Path, package: str) -> set[str]:
    """The distributions whose wheels the package ships (names as in the wheel files)."""
    prefix = f"./opt/commaudit/wheels/{package}/"
    paths = [line.split()[-1] for line in dpkg_deb("--contents", str(deb)).splitlines()]
    return {
        p.removeprefix(prefix).split("-")[0]
        for p in paths
        if p.startswith(prefix) and p.endswith(".whl")
    }


def unpacked(deb: Path, tmp_path: Path) -> Path:
    root = tmp_path / "root"
    dpkg_deb("-x", str(deb), str(root))
    return root


def test_agent_metadata_names_python_of_the_wheels_and_venv(debs: dict[str, Path]) -> None:
    deb = debs["commaudit-agent"]
    assert field(deb, "Package") == "commaudit-agent"
    assert field(deb, "Version") == f"{VERSION}-1"
    python = f"python3 (>= {PYTHON}), python3 (<< {NEXT_PYTHON})"
    assert field(deb, "Depends") == f"{python}, python3-venv"
    assert field(deb, "Breaks") == (
        f"commaudit-collector (<< {VERSION}-1), commaudit-collector (>> {VERSION}-1)"
    )


def test_collector_metadata_adds_passwd_for_its_user(debs: dict[str, Path]) -> None:
    deb = debs["commaudit-collector"]
    assert field(deb, "Package") == "commaudit-collector"
    assert field(deb, "Depends") == (
        f"python3 (>= {PYTHON}), python3 (<< {NEXT_PYTHON}), python3-venv, passwd"
    )


def test_each_package_marks_its_settings_as_a_conffile(debs: dict[str, Path]) -> None:
    agent = dpkg_deb("--info", str(debs["commaudit-agent"]), "conffiles").split()
    collector = dpkg_deb("--info", str(debs["commaudit-collector"]), "conffiles").split()
    assert agent == ["/etc/commaudit/agent.toml"]
    assert collector == ["/etc/commaudit/collector.toml", "/etc/commaudit/summaries.toml"]


def test_agent_ships_its_wheels_and_no_database_code(debs: dict[str, Path]) -> None:
    wheels = wheel_names(debs["commaudit-agent"], "commaudit-agent")
    assert {"commaudit", "h2", "protobuf", "psutil", "watchdog"} <= wheels
    assert not wheels & {"duckdb", "pyarrow", "cryptography", "typer", "grpcio"}


def test_collector_ships_the_server_extra_wheels(debs: dict[str, Path]) -> None:
    wheels = wheel_names(debs["commaudit-collector"], "commaudit-collector")
    server = {"duckdb", "duckdb_extension_ducklake", "duckdb_extension_sqlite_scanner"}
    others = {
        "commaudit", "grpcio", "uvloop", "pyarrow", "cryptography", "typer", "prometheus_client"
    }  # fmt: skip
    assert server | others <= wheels


def test_the_project_wheel_is_this_version_and_holds_every_package(debs: dict[str, Path]) -> None:
    listing = dpkg_deb("--contents", str(debs["commaudit-agent"]))
    assert f"commaudit-agent/commaudit-{VERSION}-py3-none-any.whl" in listing


def test_agent_unpacks_its_unit_and_settings_where_systemd_and_it_look(
    debs: dict[str, Path], tmp_path: Path
) -> None:
    root = unpacked(debs["commaudit-agent"], tmp_path)
    unit = root / UNIT_DIR / "commaudit-agent.service"
    assert unit.read_bytes() == (REPO / "packaging/systemd/commaudit-agent.service").read_bytes()
    config = root / "etc/commaudit/agent.toml"
    assert config.read_bytes() == (REPO / "packaging/config/agent.toml").read_bytes()
    assert oct(config.stat().st_mode & 0o777) == "0o644"
    assert sorted(p.name for p in (root / UNIT_DIR).iterdir()) == ["commaudit-agent.service"]
    assert (root / "usr/share/doc/commaudit-agent/README.md").exists()


def test_collector_unpacks_its_units_timer_and_settings(
    debs: dict[str, Path], tmp_path: Path
) -> None:
    root = unpacked(debs["commaudit-collector"], tmp_path)
    units = sorted(p.name for p in (root / UNIT_DIR).iterdir())
    assert units == [
        "commaudit-collector.service",
        "commaudit-summaries.service",
        "commaudit-summaries.timer",
    ]
    for name in units:
        assert (root / UNIT_DIR / name).read_bytes() == (
            REPO / "packaging/systemd" / name
        ).read_bytes()
    for name in ("collector.toml", "summaries.toml"):
        config = root / "etc/commaudit" / name
        assert config.read_bytes() == (REPO / "packaging/config" / name).read_bytes()
    assert not (root / "opt/commaudit/venv").exists()  # postinst makes it


@pytest.mark.parametrize("package", ["commaudit-agent", "commaudit-collector"])
def test_maintainer_scripts_are_filled_in_and_parse_as_posix_sh(
    debs: dict[str, Path], tmp_path: Path, package: str
) -> None:
    control = tmp_path / "control"
    dpkg_deb("--control", str(debs[package]), str(control))
    for name in ("postinst", "prerm", "postrm"):
        script = control / name
        text = script.read_text()
        assert f"PACKAGE={package}\n" in text
        assert "@PACKAGE@" not in text and "@VERSION@" not in text
        assert script.stat().st_mode & 0o111, f"{name} is not executable"
        check = subprocess.run(["sh", "-n", str(script)], capture_output=True, text=True)
        assert check.returncode == 0, f"{name}: {check.stderr}"
    assert f"VERSION={VERSION}\n" in (control / "postinst").read_text()


def test_build_script_pins_the_nfpm_the_makefile_installs() -> None:
    makefile = (REPO / "Makefile").read_text()
    assert "packaging/build.py --install-nfpm" in makefile
    assert build_script.NFPM_REQUIREMENT.startswith("nfpm==")


def test_agent_rpm_requires_the_same_python_and_keeps_edited_settings(agent_rpm: Path) -> None:
    def query(*args: str) -> list[str]:
        result = subprocess.run(
            ["rpm", "-qp", *args, str(agent_rpm)], capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.splitlines()

    assert query("--qf", "%{NAME} %{VERSION}-%{RELEASE}\n") == [f"commaudit-agent {VERSION}-1"]
    requires = query("--requires")
    assert f"python3 >= {PYTHON}" in requires and f"python3 < {NEXT_PYTHON}" in requires
    files = query("--qf", "[%{FILEFLAGS:fflags} %{FILENAMES}\n]")
    assert "cn /etc/commaudit/agent.toml" in files  # %config(noreplace)
    assert " /usr/lib/systemd/system/commaudit-agent.service" in files
    scripts = "\n".join(query("--scripts"))
    assert "PACKAGE=commaudit-agent" in scripts and "@PACKAGE@" not in scripts
