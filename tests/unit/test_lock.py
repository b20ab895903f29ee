"""The lock file: pyproject.toml's dependencies are all in uv.lock, and the environment the
tests run in holds exactly the locked versions (issue 9, item 11). No store, no server."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata

from packaging.requirements import Requirement

from tests.support import ROOT


def _name(text: str) -> str:
    return re.sub(r"[-_.]+", "-", text).lower()


def _lock() -> dict:
    return tomllib.loads((ROOT / "uv.lock").read_text())


def test_the_lock_holds_every_dependency_pyproject_declares() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {
        _name(Requirement(r).name): str(Requirement(r).specifier) for r in project["dependencies"]
    }
    for requirements in project["optional-dependencies"].values():
        for r in requirements:
            declared[_name(Requirement(r).name)] = str(Requirement(r).specifier)
    ours = next(p for p in _lock()["package"] if p["name"] == "reclaim")
    locked = {_name(d["name"]): d.get("specifier", "") for d in ours["metadata"]["requires-dist"]}
    # a pyproject.toml edited without 'python3 dev.py lock' would install what no test saw
    assert locked == declared


def test_the_environment_holds_exactly_the_locked_versions() -> None:
    versions = {
        _name(p["name"]): p["version"] for p in _lock()["package"] if p["name"] != "reclaim"
    }
    installed = {_name(d.metadata["Name"]): d.version for d in metadata.distributions()}
    checked = {name: installed[name] for name in versions.keys() & installed.keys()}
    assert checked == {name: versions[name] for name in checked}
    # what Reclaim and its tests import directly is there, not merely allowed to be
    for needed in ("eventsourcing", "fastapi", "psycopg", "transitions", "pytest", "playwright"):
        assert installed.get(needed) == versions[needed], needed
