#!/usr/bin/env python3
"""Set up and run Reclaim from a fresh clone, with nothing but Python 3.11+.

    python3 dev.py serve [reclaim serve options]   start Reclaim on its embedded SQLite default
    python3 dev.py test  [pytest options]          run every test, PostgreSQL included
    python3 dev.py bench [bench options]           run the benchmarks, write BENCHMARKS.md

Each creates ``.venv`` (once; again when pyproject.toml changes) with the project
and what that command needs, then runs it. ``test`` starts a throwaway
PostgreSQL server itself (see tests/pgserver.py) and stops it afterwards.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / "python"


def say(message: str) -> None:
    print(f"[dev] {message}", file=sys.stderr, flush=True)


def ensure_venv(extras: str) -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - say so plainly on an old Python
        sys.exit("Reclaim needs Python 3.11 or newer")
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + extras.encode()).hexdigest()
    stamp = VENV / f".installed-{extras or 'base'}"
    if stamp.exists() and stamp.read_text() == digest and PYTHON.exists():
        return
    if not PYTHON.exists():
        say(f"creating {VENV}")
        venv.EnvBuilder(with_pip=True).create(VENV)
    target = f".[{extras}]" if extras else "."
    say(f"installing {target} into {VENV} (first run only)")
    subprocess.run(
        [
            str(PYTHON),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-e",
            target,
        ],
        cwd=ROOT,
        check=True,
    )
    stamp.write_text(digest)


def ensure_system_packages(packages: dict[str, str]) -> None:
    """Install Debian packages the tests drive (a browser, poppler), when missing and we can."""
    missing = [pkg for binary, pkg in packages.items() if not shutil.which(binary)]
    if not missing:
        return
    if shutil.which("apt-get") and os.geteuid() == 0:
        say(f"installing {' '.join(missing)} with apt-get")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=False, env=env)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
            check=False,
            env=env,
        )
    still = [pkg for binary, pkg in packages.items() if not shutil.which(binary)]
    if still:
        say(f"not available here: {' '.join(still)}; the tests that need them will say so")


def main() -> None:
    command = sys.argv[1] if len(sys.argv) > 1 else "help"
    rest = sys.argv[2:]
    os.chdir(ROOT)
    if command == "serve":
        ensure_venv("")
        os.execv(str(BIN / "reclaim"), [str(BIN / "reclaim"), "serve", *rest])
    elif command == "test":
        ensure_venv("test")
        ensure_system_packages(SYSTEM_TEST_PACKAGES)
        result = subprocess.run([str(PYTHON), "-m", "pytest", *rest], cwd=ROOT)
        sys.exit(result.returncode)
    elif command == "bench":
        ensure_venv("test")
        ensure_system_packages(SYSTEM_BENCH_PACKAGES)
        os.execv(str(PYTHON), [str(PYTHON), "-m", "bench", *rest])
    else:
        print(__doc__)
        sys.exit(0 if command in ("help", "-h", "--help") else 2)


# binary -> Debian package, for the tests that drive them
SYSTEM_TEST_PACKAGES: dict[str, str] = {"chromium": "chromium", "pdftoppm": "poppler-utils"}
# binary -> Debian package, for the benchmarks (the HTTP load generator)
SYSTEM_BENCH_PACKAGES: dict[str, str] = {"wrk": "wrk"}

if __name__ == "__main__":
    main()
