"""agent.browser stays on the standard library (the host runs for every browser profile on
every device) and states its public surface."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import agent.browser

PACKAGE = Path(agent.browser.__file__).parent


def imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
    return found


def test_the_browser_package_imports_only_the_standard_library_and_itself() -> None:
    sources = sorted(PACKAGE.glob("*.py"))
    assert len(sources) >= 8
    for source in sources:
        for module in imported_modules(source):
            top = module.split(".")[0]
            ours = module.startswith("agent.browser")
            assert ours or top in sys.stdlib_module_names or top == "__future__", (
                f"{source.name} imports {module}"
            )


def test_every_public_name_is_exported() -> None:
    assert sorted(agent.browser.__all__) == agent.browser.__all__
    for name in agent.browser.__all__:
        assert getattr(agent.browser, name).__module__.startswith("agent.browser.")
