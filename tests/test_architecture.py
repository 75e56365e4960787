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

# The packages above every layer: the project (settings, URLs, the API's handler), the
# benchmarks and the tests wire the apps together and may import any of them.
ROOTS = {"config", "bench", "tests"}


def imported_modules(source: str) -> set[str]:
    """Dotted names of the modules an absolute import in `source` names, wherever it is."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


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


def test_every_package_has_its_place():
    """A new app or library is checked from its first import: it must be given a layer."""
    packages = {path.parent.name for path in ROOT.glob("*/__init__.py")}
    assert packages - ROOTS - LAYERS.keys() == set()


def test_the_project_modules_apps_use_import_no_app():
    """An app may use a helper of `config` (config.nul, config.celery), never a module that
    reaches the apps (config.urls): that would be an upward import by a detour."""
    used = set()
    for package in LAYERS:
        for path in (ROOT / package).rglob("*.py"):
            used |= {m for m in imported_modules(path.read_text()) if m.split(".")[0] == "config"}
    violations = []
    for module in sorted(used):
        path = ROOT.joinpath(*module.split(".")).with_suffix(".py")
        if not path.exists():
            path = ROOT.joinpath(*module.split("."), "__init__.py")
        for name in sorted(imported_packages(path.read_text()) & LAYERS.keys()):
            violations.append(f"{module} (used by an app) imports {name}")
    assert violations == []


def test_an_import_hidden_in_a_function_is_caught():
    source = "def counts():\n    from conversations.models import Conversation\n"
    assert upward_imports("labeling", source) == {"conversations"}
    assert upward_imports("conversations", "import exports.models\n") == {"exports"}
    assert upward_imports("core", "from labeling import permissions\n") == {"labeling"}
    assert upward_imports("conversations", "from labeling.models import Prompt\n") == set()
