"""Write the missing .meta files of the com.emorig.bridge package.

Unity needs a .meta (holding the asset's GUID) beside every file and folder of a package, and
cannot write them itself into a read-only package installed from git. The GUIDs here come from
the file's path, so running this again gives the same ones. Run it after adding a file:

    python3 engine_plugins/unity/com.emorig.bridge/Tests/Mono~/add_meta.py
"""

import hashlib
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2]
TAIL = "  externalObjects: {{}}\n  userData: \n  assetBundleName: \n  assetBundleVariant: \n"
IMPORTERS = {
    "folder": "folderAsset: yes\nDefaultImporter:\n" + TAIL,
    ".cs": "MonoImporter:\n  externalObjects: {{}}\n  serializedVersion: 2\n  defaultReferences: []\n"
    "  executionOrder: 0\n  icon: {{instanceID: 0}}\n  userData: \n  assetBundleName: \n  assetBundleVariant: \n",
    ".asmdef": "AssemblyDefinitionImporter:\n" + TAIL,
    "package.json": "PackageManifestImporter:\n" + TAIL,
    "text": "TextScriptImporter:\n" + TAIL,
}


def meta_for(path: Path) -> str:
    relative = path.relative_to(PACKAGE).as_posix()
    guid = hashlib.md5(f"com.emorig.bridge/{relative}".encode()).hexdigest()
    kind = "folder" if path.is_dir() else path.name if path.name == "package.json" else path.suffix
    return f"fileFormatVersion: 2\nguid: {guid}\n" + IMPORTERS.get(kind, IMPORTERS["text"]).format()


def main() -> None:
    for path in sorted(PACKAGE.rglob("*")):
        hidden = any(part.endswith("~") or part.startswith(".") for part in path.relative_to(PACKAGE).parts)
        meta = Path(f"{path}.meta")
        if path.suffix == ".meta" or hidden or meta.exists():
            continue
        meta.write_text(meta_for(path))
        print(meta.relative_to(PACKAGE))


if __name__ == "__main__":
    main()
