"""The benchmark suite still runs: its cheapest sections in quick mode, for a few seconds.

The suite runs as its own process (``python -m bench``), as ``python3 dev.py bench``
runs it; nothing of ``bench/`` is imported here. SQLite only, so no PostgreSQL server
starts; when ``wrk`` is installed, the bare endpoint's section too, and issue 27's
(``reclaim serve`` on two stores of its own, sealing personal data and not).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT

pytestmark = [pytest.mark.bench, pytest.mark.timeout(150)]


def test_quick_mode_of_the_cheapest_sections_writes_a_report(tmp_path: Path) -> None:
    wrk = shutil.which("wrk") is not None
    sections = "raw,library" + (",bare,crypto" if wrk else "")
    output = tmp_path / "BENCHMARKS.md"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--quick",
            "--sections",
            sections,
            "--stores",
            "sqlite",
            "--duration",
            "1",
            "--cache-dir",
            str(tmp_path / "cache"),
            "--output",
            str(output),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=140,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["failed"] == []
    report = output.read_text()
    assert "SQLite WAL, synchronous=FULL, one row per transaction" in report
    assert "get a 7-event aggregate, add 1 event, save" in report
    assert "Quick mode" in report
    assert "## Targets" in report
    # a target whose sections did not run is listed, as not measured
    assert "not measured" in report
    if wrk:  # issue 27's target, judged on both client counts
        target = "issue 27: sealing costs at most 10 %"
        rows = [line for line in report.splitlines() if line.startswith(f"| {target}")]
        assert len(rows) == 2, rows
        assert all("sealing on: throughput" in row for row in rows), rows
    figures = json.loads((tmp_path / "cache" / "last-run.json").read_text())["results"]
    for section in sections.split(","):
        values = [f["value"] for f in figures[section]["figures"]]
        assert values and all(v is not None and v > 0 for v in values), (section, values)
