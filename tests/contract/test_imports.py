"""Who may import what: the contract is standard library only (the Pi and the gateway install
it alone), and the platform's assets and resources never import the clients."""

import ast
import sys
from pathlib import Path

from tests.contract.validators import ROOT


def imported(folder: Path) -> dict[str, set[str]]:
    """Each module file under ``folder`` and the top-level packages it imports."""
    found = {}
    for path in sorted(folder.rglob("*.py")):
        names = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = names
    return found


def test_the_contract_needs_only_the_standard_library():
    modules = imported(ROOT / "edgeline_contract")
    assert len(modules) >= 6
    outside = {
        path: sorted(names - set(sys.stdlib_module_names) - {"edgeline_contract", "__future__"})
        for path, names in modules.items()
    }
    assert {path: names for path, names in outside.items() if names} == {}


def test_assets_and_resources_do_not_import_the_clients():
    for folder in ("assets", "resources"):
        offenders = {p: n for p, n in imported(ROOT / folder).items() if "clients" in n}
        assert offenders == {}, f"{folder}/ imports clients/: {sorted(offenders)}"
