"""The package's shape: no import circle inside editgan/ (imports inside functions count)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from check_imports import find_cycle, import_graph  # noqa: E402


def test_the_package_has_no_import_circle():
    graph = import_graph(ROOT)
    assert "editgan.generator" in graph and "editgan.hub" in graph
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))
    assert "editgan.hub" not in graph["editgan.generator"], "the generator must not import the Hub"


def test_the_checker_finds_a_circle(tmp_path):
    """The checker itself can fail: a two-module package that imports itself around is reported."""
    pkg = tmp_path / "editgan"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from .b import g\n")
    (pkg / "b.py").write_text("from editgan import a\n")
    assert find_cycle(import_graph(tmp_path)) in (["editgan.a", "editgan.b", "editgan.a"],
                                                  ["editgan.b", "editgan.a", "editgan.b"])
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "check_imports.py")], capture_output=True, text=True)
    assert out.returncode == 0 and "no import circle" in out.stdout, out.stderr
