"""Print the markdown comparison table of docs/presets.md from `emorig eval` report folders.

    python examples/compare_table.py runs/cmp/eval-deitalk runs/cmp/eval-emotalk ...

Each folder's metrics.json gives one row, named after the folder (without "eval-")."""

import json
import sys
from pathlib import Path

COLUMNS = [  # (heading, key in metrics.json's "metrics", format)
    ("lip error", "lip_error", "{:.4f}"),
    ("emotion error", "emotion_error", "{:.4f}"),
    ("MAE", "mae", "{:.4f}"),
    ("jitter", "jitter", "{:.4f}"),
    ("P B M closed", "bilabial_closed", "{:.0%}"),
    ("open vowels", "open_vowel_jaw", "{:.0%}"),
    ("rounded", "rounded_lips", "{:.0%}"),
    ("still pauses", "silence_still", "{:.0%}"),
    ("emotion seen", "centroid_emotion_accuracy", "{:.0%}"),
    ("emotion heard", "auto_emotion_accuracy", "{:.0%}"),
]


def row(folder: Path) -> str:
    metrics = json.loads((folder / "metrics.json").read_text())["metrics"]
    cells = [fmt.format(metrics[key]) if metrics.get(key) is not None else "-" for _, key, fmt in COLUMNS]
    return f"| `{folder.name.removeprefix('eval-')}` | " + " | ".join(cells) + " |"


def main(folders: list[str]) -> int:
    if not folders:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    print("| run | " + " | ".join(h for h, _, _ in COLUMNS) + " |")
    print("|---|" + "---|" * len(COLUMNS))
    for f in folders:
        print(row(Path(f)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
