"""What the package index and pip see: versions, dependency ranges, classifiers, licence and README links.

Read from the installed metadata, so an editable install made before a pyproject change fails here until it is
reinstalled (``uv pip install -e packages/bulk-tracker-core -e packages/bulk-tracker-django -e
packages/bulk-tracker-testing``).
"""

import importlib.metadata
import re
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

import bulk_tracker
import bulk_tracker_core
import bulk_tracker_testing

ROOT = Path(__file__).resolve().parents[3]
REPOSITORY = "https://github.com/bulk-tracker/bulk-tracker"
PACKAGES = {
    "bulk-tracker-core": bulk_tracker_core,
    "bulk-tracker-django": bulk_tracker,
    "bulk-tracker-testing": bulk_tracker_testing,
}
all_packages = pytest.mark.parametrize("name", sorted(PACKAGES))


def metadata(name: str) -> importlib.metadata.PackageMetadata:
    return importlib.metadata.metadata(name)


def requirement(name: str, on: str) -> Requirement:
    [found] = [r for r in map(Requirement, importlib.metadata.requires(name) or []) if r.name == on]
    return found


def hatch_matrix(axis: str) -> set[str]:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+; the 3.10 runs rely on the others
    config = tomllib.loads((ROOT / "hatch.toml").read_text())
    return {value for entry in config["envs"]["hatch-test"]["matrix"] for value in entry[axis]}


@all_packages
def test_the_version_comes_from_the_module_and_succeeds_django_bulk_tracker(name):
    installed = importlib.metadata.version(name)
    assert installed == PACKAGES[name].__version__
    assert Version(installed) >= Version("1.0.0") > Version("0.2.1")
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "packages" / name / "pyproject.toml").read_text())["project"]
    assert "version" not in project
    assert project["dynamic"] == ["version"]


@pytest.mark.parametrize(
    ("name", "on"), [("bulk-tracker-django", "bulk-tracker-core"), ("bulk-tracker-testing", "bulk-tracker-django")]
)
def test_our_packages_pin_each_other_to_the_same_major_version(name, on):
    specifier = requirement(name, on).specifier
    installed = importlib.metadata.version(on)
    assert installed in specifier
    assert [v for v in ("0.1.0", "0.2.1", "1.0.0", "1.9.0", "2.0.0") if v in specifier] == ["1.0.0", "1.9.0"]


def test_django_range_admits_exactly_the_tested_series():
    specifier = requirement("bulk-tracker-django", "django").specifier
    series = [f"{major}.{minor}" for major in range(3, 8) for minor in range(3)]
    admitted = {s for s in series if f"{s}.0" in specifier}
    assert admitted == {"4.2", "5.2", "6.0", "6.1"}
    assert all(f"{s}.99" in specifier for s in admitted)
    assert admitted == hatch_matrix("django")


def test_model_utils_range_is_the_tested_release():
    specifier = requirement("bulk-tracker-django", "django-model-utils").specifier
    assert importlib.metadata.version("django-model-utils") in specifier
    assert [v for v in ("4.5.1", "5.0.0", "5.0.9", "5.1.0", "6.0.0") if v in specifier] == ["5.0.0", "5.0.9"]


def test_the_testing_package_declares_what_its_plugin_imports():
    assert "pytest" in {Requirement(r).name for r in importlib.metadata.requires("bulk-tracker-testing") or []}
    [entry_point] = importlib.metadata.distribution("bulk-tracker-testing").entry_points.select(group="pytest11")
    assert (entry_point.name, entry_point.value) == ("bulk_tracker", "bulk_tracker_testing.plugin")


@all_packages
def test_classifiers_name_the_tested_pythons_and_djangos(name):
    classifiers = metadata(name).get_all("Classifier") or []
    pythons = {
        c.rsplit(" :: ", 1)[1] for c in classifiers if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    }
    assert pythons == hatch_matrix("python")
    requires_python = importlib.metadata.distribution(name).metadata["Requires-Python"]
    assert requires_python == ">=3.10"
    assert "Development Status :: 5 - Production/Stable" in classifiers
    djangos = {c.rsplit(" :: ", 1)[1] for c in classifiers if re.fullmatch(r"Framework :: Django :: \d+\.\d+", c)}
    assert djangos == (set() if name == "bulk-tracker-core" else hatch_matrix("django"))


@all_packages
def test_mit_licence_as_an_spdx_expression_and_the_file_in_every_package(name):
    data = metadata(name)
    assert data["License-Expression"] == "MIT"
    assert data.get_all("License-File") == ["LICENSE"]
    assert not [c for c in data.get_all("Classifier") or [] if c.startswith("License ::")]  # PEP 639: not both
    licence = (ROOT / "LICENSE").read_text()
    assert licence.startswith("MIT License\n\nCopyright (c) 2026 the bulk-tracker authors\n")
    # An sdist holds only its package folder, so each carries a copy: it must stay the root's.
    assert (ROOT / "packages" / name / "LICENSE").read_text() == licence
    assert importlib.metadata.distribution(name).read_text("licenses/LICENSE") == licence


@all_packages
def test_project_urls_and_readme_links_work_from_the_package_index(name):
    data = metadata(name)
    urls = dict(entry.split(", ", 1) for entry in data.get_all("Project-URL") or [])
    assert urls["Homepage"] == REPOSITORY
    assert urls["Changelog"] == f"{REPOSITORY}/blob/main/CHANGELOG.md"
    assert urls["Issues"] == f"{REPOSITORY}/issues"
    assert urls["Documentation"] == f"{REPOSITORY}/tree/main/packages/{name}#readme"
    assert data.json["description"].startswith(f"# {name}\n")  # the README is the index page
    readme = (ROOT / "packages" / name / "README.md").read_text()  # as edited, not as last installed
    targets = re.findall(r"\]\(([^)\s]+)\)", readme)
    assert [t for t in targets if not t.startswith(("https://", "#"))] == []
    outside_links = re.sub(r"\[[^\]]*\]\(https://[^)]+\)", "", readme)
    assert re.findall(r"(?<![/\w])(?:docs|tests)/[\w.]*", outside_links) == []  # a repository path as plain text
