#!/usr/bin/env python3
"""Set up and run Reclaim from a fresh clone, with nothing but Python 3.11+.

    python3 dev.py serve [reclaim serve options]   start Reclaim on its embedded SQLite default
    python3 dev.py test  [pytest options]          run every test, PostgreSQL included
    python3 dev.py bench [bench options]           run the benchmarks, write BENCHMARKS.md
    python3 dev.py lock                            update uv.lock to the newest allowed versions
    python3 dev.py mailserver [workspace]          local SMTP and IMAP servers for trying mail

Each creates ``.venv`` (once; again when uv.lock or pyproject.toml changes) with
exactly the versions in ``uv.lock``, then runs the command. The installer is uv,
at a pinned version, bootstrapped from PyPI into ``.tools/`` with the pip of this
Python. ``test`` starts a throwaway PostgreSQL server itself (see
tests/support/pgserver.py) and stops it afterwards.
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


#: the installer, pinned: it installs exactly what uv.lock says (``--locked`` also fails when
#: pyproject.toml has changed without the lock being updated)
UV_VERSION = "0.13.9"
TOOLS = ROOT / ".tools"
UV = TOOLS / ("Scripts" if os.name == "nt" else "bin") / "uv"


def check_python() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - say so plainly on an old Python
        sys.exit("Reclaim needs Python 3.11 or newer")


def ensure_uv() -> Path:
    stamp = TOOLS / ".uv-version"
    if UV.exists() and stamp.exists() and stamp.read_text() == UV_VERSION:
        return UV
    say(f"bootstrapping uv {UV_VERSION} into {TOOLS}")
    venv.EnvBuilder(with_pip=True, clear=True).create(TOOLS)
    tools_python = UV.parent / "python"
    pip = [str(tools_python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, f"uv=={UV_VERSION}"], check=True)
    stamp.write_text(UV_VERSION)
    return UV


def uv_env() -> dict[str, str]:
    return {
        **os.environ,
        "UV_PROJECT_ENVIRONMENT": str(VENV),
        "UV_PYTHON": sys.executable,
        "UV_PYTHON_DOWNLOADS": "never",
    }


def ensure_venv(extras: str) -> None:
    """Make ``.venv`` hold exactly the locked versions (with the extras the command needs)."""
    check_python()
    lock = ROOT / "uv.lock"
    digest = hashlib.sha256(
        lock.read_bytes() + (ROOT / "pyproject.toml").read_bytes() + extras.encode()
    ).hexdigest()
    stamp = VENV / f".installed-{extras or 'base'}"
    if stamp.exists() and stamp.read_text() == digest and PYTHON.exists():
        return
    uv = ensure_uv()
    say(f"installing the locked versions{f' with [{extras}]' if extras else ''} into {VENV}")
    command = [str(uv), "sync", "--locked", "--quiet"]
    # without extras (serve) keep what a test run installed; with them, exactly the lock
    command += ["--extra", extras] if extras else ["--inexact"]
    subprocess.run(command, cwd=ROOT, env=uv_env(), check=True)
    stamp.write_text(digest)


def update_lock() -> None:
    check_python()
    uv = ensure_uv()
    subprocess.run([str(uv), "lock", "--upgrade"], cwd=ROOT, env=uv_env(), check=True)
    say("uv.lock updated: run python3 dev.py test, then commit it")


def _present(thing: str) -> bool:
    """A program on the PATH, or (an absolute path) a file a package installs."""
    return Path(thing).exists() if thing.startswith("/") else shutil.which(thing) is not None


def ensure_system_packages(packages: dict[str, str]) -> None:
    """Install Debian packages Reclaim or its tests use (fonts, a browser, poppler), when
    missing and we can."""
    missing = sorted({pkg for thing, pkg in packages.items() if not _present(thing)})
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
    still = sorted({pkg for thing, pkg in packages.items() if not _present(thing)})
    if still:
        say(f"not available here: {' '.join(still)}; what needs them will say so")


def main() -> None:
    command = sys.argv[1] if len(sys.argv) > 1 else "help"
    rest = sys.argv[2:]
    os.chdir(ROOT)
    if command == "serve":
        ensure_venv("")
        ensure_system_packages(SYSTEM_SERVE_PACKAGES)
        os.execv(str(BIN / "reclaim"), [str(BIN / "reclaim"), "serve", *rest])
    elif command == "test":
        ensure_venv("test")
        ensure_system_packages(SYSTEM_TEST_PACKAGES)
        result = subprocess.run([str(PYTHON), "-m", "pytest", *rest], cwd=ROOT)
        sys.exit(result.returncode)
    elif command == "lock":
        update_lock()
    elif command == "mailserver":
        ensure_venv("test")
        os.execv(str(PYTHON), [str(PYTHON), "-m", "tests.support.mailserver", *rest])
    elif command == "bench":
        ensure_venv("test")
        ensure_system_packages(SYSTEM_BENCH_PACKAGES)
        os.execv(str(PYTHON), [str(PYTHON), "-m", "bench", *rest])
    else:
        print(__doc__)
        sys.exit(0 if command in ("help", "-h", "--help") else 2)


# a program or a file it installs -> Debian package: the dossier PDF's fonts (see
# api/render/dossier.py)
SYSTEM_SERVE_PACKAGES: dict[str, str] = {
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf": "fonts-dejavu-core",
    "/usr/share/fonts-droid-fallback/truetype/DroidSansFallback.ttf": "fonts-droid-fallback",
    "/usr/share/fonts/truetype/ancient-scripts/Symbola_hint.ttf": "fonts-symbola",
}
# ... and for the tests: the fonts, a browser, poppler
SYSTEM_TEST_PACKAGES: dict[str, str] = {
    **SYSTEM_SERVE_PACKAGES,
    "chromium": "chromium",
    "pdftoppm": "poppler-utils",
}
# binary -> Debian package, for the benchmarks (the HTTP load generator)
SYSTEM_BENCH_PACKAGES: dict[str, str] = {"wrk": "wrk"}

if __name__ == "__main__":
    main()
