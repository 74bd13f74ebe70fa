import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parents[1]

SCRIPT = """
import json, sys
before = set(sys.modules)
import bulk_tracker_core
from bulk_tracker_core import *
print(json.dumps({"file": bulk_tracker_core.__file__, "new": sorted(set(sys.modules) - before)}))
"""


def test_importing_core_imports_no_django_and_no_third_party_module():
    env = {**os.environ, "PYTHONPATH": str(PACKAGE_DIR / "src")}
    result = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=True)
    report = json.loads(result.stdout)
    assert Path(report["file"]).is_relative_to(PACKAGE_DIR / "src")
    assert [name for name in report["new"] if name.startswith("django")] == []
    top_level = {name.partition(".")[0] for name in report["new"]}
    assert top_level - set(sys.stdlib_module_names) - {"bulk_tracker_core"} == set()


def test_package_declares_no_dependencies():
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((PACKAGE_DIR / "pyproject.toml").read_text())["project"]
    assert project["dependencies"] == []
    assert "optional-dependencies" not in project
