"""Package the add-on as a zip that Blender installs (Preferences > Add-ons > Install, or for 4.2+
Get Extensions > Install from Disk): python engine_plugins/blender/make_zip.py [OUT.zip]"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
PACKAGE = HERE / "emorig_blender"


def make_zip(out: Path) -> Path:
    out = Path(out)
    files = sorted(p for p in PACKAGE.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for p in files:
            # One top-level folder named like the module: what Blender's add-on installer expects.
            z.write(p, f"{PACKAGE.name}/{p.relative_to(PACKAGE).as_posix()}")
    return out


if __name__ == "__main__":
    print(make_zip(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("emorig_blender.zip")))
