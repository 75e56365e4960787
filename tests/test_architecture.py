"""Apps depend one way: labeling <- conversations <- exports, over libraries that import no app.

Every import counts, also one inside a function (the usual way to hide a cycle).
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# An app may import the apps of lower layers and the libraries (layer 0); a library imports
# none of these packages.
LAYERS = {
    "core": 0,
    "sftpipeline": 0,
    "structured_turns": 0,
    "labeling": 1,
    "conversations": 2,
    "exports": 3,
    "operations": 4,
}


def imported_packages(source: str) -> set[str]:
    """Top-level packages an absolute import in `source` names, wherever the import is."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def upward_imports(package: str, source: str) -> set[str]:
    """The packages of a higher layer that `source`, a module of `package`, imports."""
    layer = LAYERS[package]
    return {
        name
        for name in imported_packages(source) & LAYERS.keys() - {package}
        if layer == 0 or LAYERS[name] >= layer
    }


def test_no_package_imports_a_higher_layer():
    violations = []
    for package in LAYERS:
        for path in sorted((ROOT / package).rglob("*.py")):
            for name in sorted(upward_imports(package, path.read_text())):
                violations.append(f"{path.relative_to(ROOT)} imports {name}")
    assert violations == []


def test_an_import_hidden_in_a_function_is_caught():
    source = "def counts():\n    from conversations.models import Conversation\n"
    assert upward_imports("labeling", source) == {"conversations"}
    assert upward_imports("conversations", "import exports.models\n") == {"exports"}
    assert upward_imports("core", "from labeling import permissions\n") == {"labeling"}
    assert upward_imports("conversations", "from labeling.models import Prompt\n") == set()
