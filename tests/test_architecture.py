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
    files = [*(ROOT / "app_pages").glob("*.py"), ROOT / "ui.py", ROOT / "streamlit_app.py"]
    offenders = [str(p.relative_to(ROOT)) for p in files if sql.search(p.read_text())]
    assert offenders == []


def test_pages_do_not_import_duckdb():
    files = [*(ROOT / "app_pages").glob("*.py"), ROOT / "streamlit_app.py"]
    offenders = [str(p.relative_to(ROOT)) for p in files
                 if any(m.split(".")[0] == "duckdb" for m in imported_modules(p))]
    assert offenders == []
