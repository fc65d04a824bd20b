"""demo/run.py installs every module the demo needs before it runs the demo."""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "demo"
FIRST_PARTY = {"grip_views", "demo", "demo_api"}


def _load_runner() -> ModuleType:
    spec = importlib.util.spec_from_file_location("demo_run", DEMO / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


run = _load_runner()


class _RequiredImports(ast.NodeVisitor):
    """The modules a file imports, except optional ones: in a ``try`` that
    catches ``ImportError``, or under ``if TYPE_CHECKING:``."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def visit_Import(self, node: ast.Import) -> None:
        self.names.update(alias.name for alias in node.names)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level == 0 and node.module:
            self.names.add(node.module)

    def visit_Try(self, node: ast.Try) -> None:
        caught = {
            getattr(name, "id", None)
            for handler in node.handlers
            for name in (handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type])
        }
        optional = bool(caught & {"ImportError", "ModuleNotFoundError"})
        for child in [*([] if optional else node.body), *node.handlers, *node.orelse, *node.finalbody]:
            self.visit(child)

    def visit_If(self, node: ast.If) -> None:
        if not (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"):
            self.generic_visit(node)
        else:
            for child in node.orelse:
                self.visit(child)


def _imported_top_level_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    visitor = _RequiredImports()
    visitor.visit(tree)
    names = visitor.names
    if path.name == "settings.py":
        for node in tree.body:
            targets = {t.id for t in getattr(node, "targets", []) if isinstance(t, ast.Name)}
            if isinstance(node, ast.Assign) and targets & {"INSTALLED_APPS", "MIDDLEWARE"}:
                names.update(ast.literal_eval(node.value))  # dotted paths Django imports
    return {name.split(".")[0] for name in names}


#: Run under the demo's settings: loads what ``migrate`` and ``runserver`` do
#: (apps, migrations, URLconf and views, middleware) and the public API of
#: grip_views the demo may call; prints the files of every module imported.
_LOAD_THE_DEMO = """
import json, sys
import django
django.setup()
from django.core.handlers.wsgi import WSGIHandler
from django.core.management import call_command
from django.db.migrations.loader import MigrationLoader
import demo.asgi, grip_views, grip_views.pushpin, grip_views.rest_framework as drf
call_command("check")
WSGIHandler()
MigrationLoader(None, ignore_no_migrations=True)
for module in (grip_views, drf):
    for name in module.__all__:
        getattr(module, name)
print(json.dumps(sorted({getattr(m, "__file__", None) or "" for m in list(sys.modules.values())})))
"""


def _files_the_demo_loads() -> list[Path]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("GRIP_", "DEMO_"))}
    env.update(DJANGO_SETTINGS_MODULE="demo.settings", PYTHONPATH=os.pathsep.join([str(DEMO), str(ROOT)]))
    result = subprocess.run(
        [sys.executable, "-c", _LOAD_THE_DEMO], env=env, cwd=DEMO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    loaded = [Path(name) for name in json.loads(result.stdout.splitlines()[-1]) if name]
    # The project's own files only: a virtualenv inside the checkout (as
    # runtests.sh makes, in .venv/) holds third-party code.
    ours = (DEMO, ROOT / "grip_views")
    return [p for p in loaded if p.suffix == ".py" and any(p.is_relative_to(d) for d in ours)]


def test_every_module_the_demo_imports_is_checked() -> None:
    sources = {*DEMO.rglob("*.py"), *_files_the_demo_loads()}
    assert ROOT / "grip_views" / "rest_framework" / "mixins.py" in sources
    third_party = set().union(*map(_imported_top_level_modules, sources))
    third_party -= set(sys.stdlib_module_names) | FIRST_PARTY
    assert "rest_framework" in third_party
    assert sorted(third_party - set(run.REQUIRED_MODULES)) == []


def test_optional_imports_are_not_required(tmp_path: Path) -> None:
    source = tmp_path / "module.py"
    source.write_text(
        "import needed.sub\n"
        "from typing import TYPE_CHECKING\n"
        "try:\n    import optional\nexcept ImportError:\n    optional = None\n"
        "if TYPE_CHECKING:\n    import typing_only\n"
        "def later():\n    from lazy import thing\n"
    )
    assert _imported_top_level_modules(source) == {"needed", "typing", "lazy"}


def test_nothing_is_missing_here() -> None:
    assert run.missing_modules() == []


def test_a_module_that_cannot_be_imported_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    # Django, gripcontrol and PyJWT installed, DRF not: `migrate` used to fail on it.
    monkeypatch.setitem(sys.modules, "rest_framework", None)
    assert run.missing_modules() == ["rest_framework"]
    assert run.missing_modules(["django", "no_such_module_here"]) == ["no_such_module_here"]


class _Pip:
    """Stands in for ``subprocess.run``; installs ``installs`` when called."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, installs: bool) -> None:
        self.calls: list[list[str]] = []
        self.monkeypatch = monkeypatch
        self.installs = installs
        monkeypatch.setitem(sys.modules, "rest_framework", None)
        monkeypatch.setattr(run.subprocess, "run", self)

    def __call__(self, command: list[str], **kwargs: Any) -> None:
        self.calls.append(command)
        if self.installs:
            self.monkeypatch.delitem(sys.modules, "rest_framework")


def test_a_missing_module_installs_the_package_with_the_drf_and_htmx_extras(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pip = _Pip(monkeypatch, installs=True)
    run.ensure_python_packages()
    assert pip.calls == [[sys.executable, "-m", "pip", "install", "-q", "-e", f"{ROOT}[drf,htmx]"]]
    assert "(djangorestframework missing)" in capsys.readouterr().out


def test_a_module_pip_did_not_install_stops_the_runner_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    _Pip(monkeypatch, installs=False)
    with pytest.raises(SystemExit, match="Still missing after pip install: rest_framework"):
        run.ensure_python_packages()


def test_nothing_is_installed_when_nothing_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []
    monkeypatch.setattr(run.subprocess, "run", lambda *a, **kw: calls.append(a))
    run.ensure_python_packages()
    assert calls == []
