"""Reading training captures: curve files, dataset naming conventions, and whole folders.

    read_motion(path, space=None, fps=None) -> Take     any curve file (csv, json, BEAT json, npz, npy)
    labels_from_path(path, root=None) -> Labels | None  RAVDESS / CREMA-D / MEAD / BEAT names
    discover(sources, kind="auto") -> Discovery         which audio goes with which curves
    import_sources(sources, options) -> ImportResult    manifest entries, as `emorig data import`

For a manifest entry's animation: `read_motion(entry.motion, entry.space, entry.fps)`.
See docs/data-import.md.
"""

from .discover import KINDS, ClipFiles, Discovery, discover
from .importer import ImportOptions, ImportResult, audio_seconds, import_sources
from .motion import read_beat_json, read_motion, read_npy
from .naming import Labels, labels_from_path

__all__ = [
    "KINDS",
    "ClipFiles",
    "Discovery",
    "ImportOptions",
    "ImportResult",
    "Labels",
    "audio_seconds",
    "discover",
    "import_sources",
    "labels_from_path",
    "read_beat_json",
    "read_motion",
    "read_npy",
]
