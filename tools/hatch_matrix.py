"""The test matrix on the interpreters this machine has.

Two uses, one rule (``missing_pythons``):

* a hatch environment collector (``[env.collectors.custom]`` in hatch.toml): hatch 1.18 with
  ``python-sources = ["external"]`` counts a matrix entry whose Python is missing as compatible (it could
  download one) and then crashes creating it; here such an entry names the missing interpreter instead, so
  ``hatch test --all`` skips it with that reason;
* ``python tools/hatch_matrix.py [hatch test options]`` (``hatch run test:matrix``): runs ``hatch test`` for
  every entry whose Python exists, carries on past a failure, and ends with one line counting them.
  ``-j N`` runs N entries at once (each entry's output is printed whole when it ends).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from functools import cache

from hatch.env.collectors.plugin.interface import EnvironmentCollectorInterface

TEST_MATRIX = "hatch-test"
_MISSING = "{version}, which is not on PATH (hatch.toml never downloads an interpreter)"


@cache
def python_exists(version: str) -> bool:
    """True when hatch's own interpreter discovery finds a working Python ``version``."""
    import python_discovery  # hatch's dependency, so both uses have it

    return python_discovery.get_interpreter(version, (), env=dict(os.environ)) is not None


def missing_pythons(envs: dict[str, dict]) -> dict[str, str]:
    """``{environment: python version}`` for the environments whose interpreter is missing."""
    return {
        name: config["python"]
        for name, config in envs.items()
        if config.get("python") and not python_exists(config["python"])
    }


class MatrixCollector(EnvironmentCollectorInterface):
    """Mark each test environment whose Python is missing, so that hatch skips it with a clear reason."""

    PLUGIN_NAME = "custom"

    def finalize_environments(self, config: dict[str, dict]) -> None:
        tests = {name: env for name, env in config.items() if name.startswith(f"{TEST_MATRIX}.")}
        for name, version in missing_pythons(tests).items():
            config[name]["python"] = _MISSING.format(version=version)


def get_environment_collector() -> type[EnvironmentCollectorInterface]:
    """The entry point hatch's custom collector loader looks for."""
    return MatrixCollector


def _hatch(*args: str) -> list[str]:
    return [sys.executable, "-m", "hatch", *args]


def _variables(name: str) -> dict[str, str]:
    """``hatch-test.py3.12-6.1`` -> ``{"python": "3.12", "django": "6.1"}``."""
    python, django = name.removeprefix(f"{TEST_MATRIX}.py").split("-")
    return {"python": python, "django": django}


def _selected(variables: dict[str, str], include: list[str], exclude: list[str]) -> bool:
    def matches(option: str) -> bool:
        key, _, values = option.partition("=")
        return variables.get(key) in values.split(",")

    return all(matches(option) for option in include) and not any(matches(option) for option in exclude)


def _parse(argv: list[str]) -> tuple[list[str], list[str], int, list[str]]:
    """``(include, exclude, jobs, pytest_args)`` from the command line."""
    include, exclude, pytest_args, jobs = [], [], [], 1
    args = iter(argv)
    for arg in args:
        if arg in ("-i", "-x"):
            (include if arg == "-i" else exclude).append(next(args))
        elif arg == "-j":
            jobs = int(next(args))
        elif arg == "--":
            pytest_args = list(args)
        else:
            pytest_args.append(arg)
    return include, exclude, jobs, pytest_args


def _run(name: str, command: list[str], env: dict[str, str], captured: bool) -> bool:
    """Run one entry; with ``captured``, print its whole output once it ends, so parallel entries never interleave."""
    started = time.monotonic()
    if not captured:
        ok = subprocess.run(command, env=env, check=False).returncode == 0
    else:
        with tempfile.TemporaryFile("w+") as output:
            ok = subprocess.run(command, env=env, stdout=output, stderr=subprocess.STDOUT, check=False).returncode == 0
            output.seek(0)
            sys.stdout.write(output.read())
    print(f"{name}: {'passed' if ok else 'FAILED'} in {time.monotonic() - started:.0f} s", flush=True)
    return ok


def main(argv: list[str]) -> int:
    """Run ``hatch test`` on each selected matrix entry whose Python exists; end with a line counting them.

    ``-i python=3.12`` / ``-x django=4.2,5.2`` select entries as ``hatch test`` does, ``-j 2`` runs two at
    once; what follows ``--`` goes to pytest.
    """
    include, exclude, jobs, pytest_args = _parse(argv)
    env = {k: v for k, v in os.environ.items() if k not in ("HATCH_ENV_ACTIVE", "VIRTUAL_ENV")}
    shown = subprocess.run(
        _hatch("env", "show", "--json", TEST_MATRIX), capture_output=True, text=True, check=True, env=env
    )
    configs: dict[str, dict] = json.loads(shown.stdout)
    runs: dict[str, list[str]] = {}
    skipped = []
    for name, config in configs.items():
        if not name.startswith(f"{TEST_MATRIX}.py"):
            continue
        variables = _variables(name)
        if not _selected(variables, include, exclude):
            continue
        if config.get("python") != variables["python"]:  # MatrixCollector marked it: no such Python here
            skipped.append(name)
            print(f"{name}: skipped, no Python {variables['python']} on PATH")
            continue
        runs[name] = _hatch(
            "test", "-i", f"python={variables['python']}", "-i", f"django={variables['django']}", *pytest_args
        )
    with ThreadPoolExecutor(max_workers=max(jobs, 1)) as pool:
        outcomes = dict(zip(runs, pool.map(lambda name: _run(name, runs[name], env, jobs > 1), runs), strict=True))
    passed = [name for name, ok in outcomes.items() if ok]
    failed = [name for name, ok in outcomes.items() if not ok]
    if failed:
        print("failed: " + ", ".join(failed))
    print(f"environments: {len(passed)} passed, {len(failed)} failed, {len(skipped)} skipped")
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
