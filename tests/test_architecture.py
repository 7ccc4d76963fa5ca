"""The architecture's rules, checked: tracker/ never imports streamlit; SQL lives in tracker/."""

import ast
import re

from conftest import ROOT


def imported_modules(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module


def test_tracker_never_imports_streamlit():
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "tracker").rglob("*.py")
                 if any(m.split(".")[0] == "streamlit" for m in imported_modules(p))]
    assert offenders == []


def test_pages_hold_no_sql():
    sql = re.compile(r"\b(SELECT\s.+\sFROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM)\b",
                     re.IGNORECASE)
    files = [*(ROOT / "app_pages").glob("*.py"), *(ROOT / "app").glob("*.py"), ROOT / "streamlit_app.py"]
    offenders = [str(p.relative_to(ROOT)) for p in files if sql.search(p.read_text())]
    assert offenders == []


def test_pages_do_not_import_duckdb():
    files = [*(ROOT / "app_pages").glob("*.py"), ROOT / "streamlit_app.py"]
    offenders = [str(p.relative_to(ROOT)) for p in files
                 if any(m.split(".")[0] == "duckdb" for m in imported_modules(p))]
    assert offenders == []


def test_import_linter_contracts_are_kept():
    """The layers in pyproject.toml ([tool.importlinter]): tracker never imports the app, the
    layers go one way, the engines stand independent under the factory."""
    import subprocess
    import sys
    from pathlib import Path

    command = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(command), "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def test_no_import_circles_anywhere():
    """No module imports, even through others, a module that imports it: in tracker/, app/,
    the pages and the entry points (lazy imports inside functions count too)."""
    import grimp
    import networkx as nx

    graph = grimp.build_graph("tracker", "app", cache_dir=None)
    edges = nx.DiGraph()
    for module in graph.modules:
        edges.add_edges_from((module, other)
                             for other in graph.find_modules_directly_imported_by(module))
    scripts = [*(ROOT / "app_pages").glob("*.py"), ROOT / "streamlit_app.py", ROOT / "server.py"]
    for path in scripts:  # run as scripts: nothing imports them, so no circle can pass through
        edges.add_edges_from((path.stem, m) for m in imported_modules(path))
    circles = sorted(sorted(c) for c in nx.simple_cycles(edges))
    assert circles == []


def test_the_top_of_tracker_holds_few_modules():
    """Capabilities live in folders named for them (docs/design.md); at most 12 modules stay
    at tracker/'s top, and only the entry points at the repository's root."""
    top = sorted(p.name for p in (ROOT / "tracker").glob("*.py"))
    assert len(top) <= 12, top
    assert sorted(p.name for p in ROOT.glob("*.py")) == ["server.py", "streamlit_app.py"]
