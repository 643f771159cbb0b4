"""A browser binary for the tests that need a real one: found on PATH or, on a bare Debian host
run as root, installed once from the distribution; otherwise the reason there is none, which the
calling test skips with."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

INSTALL_TIMEOUT = 600.0


def find_or_install(names: tuple[str, ...], package: str) -> Path | str:
    """The first of `names` on PATH, installing Debian's `package` when none is; else why not."""
    return (
        _on_path(names)
        or _install(names, package)
        or _on_path(names)
        or (f"no {'/'.join(names)} after installing {package}")
    )


def _on_path(names: tuple[str, ...]) -> Path | None:
    for name in names:
        found = shutil.which(name)
        if found:
            return Path(found)
    return None


def _install(names: tuple[str, ...], package: str) -> str | None:
    """None when installed, else the reason it was not."""
    missing = f"no {'/'.join(names)} on PATH"
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return f"{missing}, and not root to install {package}"
    if shutil.which("apt-get") is None:
        return f"{missing}, and no apt-get to install {package}"
    command = ("install", "-y", "--no-install-recommends", package)
    failure = _apt(*command)
    if failure is not None:
        # A fresh image may have no package lists yet: fetch them, then try once more.
        _apt("update")
        failure = _apt(*command)
    return None if failure is None else f"installing {package} failed: {failure}"


def _apt(*args: str) -> str | None:
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        done = subprocess.run(
            ["apt-get", *args],
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT,
            env=environment,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"apt-get {args[0]} took over {INSTALL_TIMEOUT:.0f} s"
    if done.returncode != 0:
        return f"apt-get {args[0]} exited {done.returncode}: {done.stderr.strip()[-500:]}"
    return None
