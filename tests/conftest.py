import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Independent facts for the tests: the shared reference folder beside the checkout.
REFERENCE = ROOT.parent / "shared" / "reference"


def reference(name: str) -> Path:
    path = REFERENCE / name
    if not path.exists():
        pytest.skip(f"reference file {path} not available")
    return path


def reference_readme_names(section_start: str, section_end: str) -> list[str]:
    text = reference("README.md").read_text()
    block = text[text.index(section_start) : text.index(section_end, text.index(section_start))]
    return re.findall(r"[A-Za-z]+", block)


def run_emorig(*args, cwd=None):
    """The real command line, in a child process, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "bridge.cli", *map(str, args)], capture_output=True, text=True, cwd=cwd
    )
