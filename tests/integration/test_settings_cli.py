"""The command line names a bad setting plainly, without a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

RECLAIM = Path(sys.executable).parent / "reclaim"


def test_the_command_line_names_a_bad_setting_plainly(tmp_path) -> None:
    result = subprocess.run(
        [str(RECLAIM), "keys", "list"],
        capture_output=True,
        text=True,
        env={
            "RECLAIM_DATA_DIR": str(tmp_path),
            "RECLAIM_FOLLOW_UP_DAYS": '{"temu": 0}',
            "PATH": "/usr/bin:/bin",
        },
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("reclaim: bad configuration")
    assert "Traceback" not in result.stderr
