"""The layers depend one way: domain <- infrastructure <- api. Read from the source with
``ast``, so an import inside a function or under ``TYPE_CHECKING`` counts as well."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: each layer, and the layers its modules may not import
FORBIDDEN = {
    "domain": ("infrastructure", "api"),
    "infrastructure": ("api",),
}


def _module(path: Path, root: Path) -> str:
    return ".".join(path.relative_to(root).with_suffix("").parts)


def _imports_by_name(call: ast.Call) -> bool:
    """``__import__("x")`` or ``importlib.import_module("x")``, with the name written out."""
    called = getattr(call.func, "id", None) or getattr(call.func, "attr", None)
    named = bool(call.args) and isinstance(call.args[0], ast.Constant)
    return called in ("__import__", "import_module") and named


def imported(path: Path, root: Path = ROOT) -> list[tuple[int, str]]:
    """Every module ``path`` imports (relative imports resolved), with its line."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    module = _module(path, root)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                up = parts[: len(parts) - (node.level - 1)]
                base = ".".join([*up, base] if base else up)
            found.append((node.lineno, base))
            # ``from infrastructure import x`` where x is a subpackage reaches it too
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
        elif isinstance(node, ast.Call) and _imports_by_name(node):
            found.append((node.lineno, str(node.args[0].value)))  # type: ignore[attr-defined]
    return found


def reaches(name: str, layer: str) -> bool:
    return name == layer or name.startswith(layer + ".")


def violations(layer: str) -> list[str]:
    found = []
    for path in sorted((ROOT / layer).rglob("*.py")):
        for line, name in imported(path):
            for upper in FORBIDDEN[layer]:
                if reaches(name, upper):
                    found.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    return found


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_no_layer_imports_one_above_it(layer: str) -> None:
    assert list((ROOT / layer).rglob("*.py")), layer  # the check reads something
    assert violations(layer) == []


def test_the_check_sees_every_form_of_import(tmp_path: Path) -> None:
    source = tmp_path / "infrastructure" / "read" / "sample.py"
    source.parent.mkdir(parents=True)
    source.write_text(
        "import api.http\n"
        "from api.render import dossier\n"
        "from ..store import keys\n"
        "def late():\n"
        "    from api.render.dossier import DossierInput\n"
        "    return __import__('api.cli')\n"
        "import importlib\n"
        "importlib.import_module('api.http.app')\n"
        "from domain.cases import Case\n"
    )
    names = [name for _, name in imported(source, tmp_path)]
    assert "infrastructure.store" in names and "infrastructure.store.keys" in names
    assert sorted(line for line, name in imported(source, tmp_path) if reaches(name, "api")) == [
        1,
        2,
        2,
        5,
        5,
        6,
        8,
    ]
