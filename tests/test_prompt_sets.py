"""The older Asterisk prompt sets (`emorig data synth --real prompt-...`): their word tables, their
licences, their GSM audio, and the Asterisk packages training must never read.

The audio tests skip when the set's Debian package is not installed."""

from __future__ import annotations

import shutil
import subprocess
from importlib import resources

import numpy as np
import pytest

from training.speech import asterisk
from training.speech.asterisk import PROMPT_SETS, SETS, SOUNDS, SOURCES

# An outside evaluation uses these: no training source may read them, in any encoding.
RESERVED = ("asterisk-core-sounds-fr", "asterisk-core-sounds-es", "asterisk-core-sounds-it")
GSM_FRAME_BYTES, GSM_FRAME_SAMPLES = 33, 160  # one 20 ms GSM 06.10 frame at 8 kHz


def _table_text(name: str) -> str:
    path = resources.files("training") / "data" / "prompt_words" / f"{name.removeprefix('prompt-')}.tsv"
    assert path.is_file(), f"{name}: no word table at {path}"
    return path.read_text("utf-8")


def _rows(name: str) -> list[tuple[str, str]]:
    rows = []
    for number, line in enumerate(_table_text(name).splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        assert line.count("\t") == 1, f"{name} line {number}: not `prompt<TAB>text`: {line!r}"
        prompt, text = line.split("\t")
        rows.append((prompt, text))
    return rows


@pytest.mark.parametrize("name", sorted(PROMPT_SETS))
def test_every_word_table_parses_into_named_prompts_with_words(name):
    rows = _rows(name)
    assert len(rows) >= 30, f"{name}: only {len(rows)} prompts"
    prompts = [p for p, _ in rows]
    assert len(set(prompts)) == len(prompts), f"{name}: a prompt listed twice"
    for prompt, text in rows:
        assert prompt and prompt == prompt.strip() and not prompt.startswith("/"), (name, prompt)
        assert not prompt.endswith((".gsm", ".wav", ".g722")), (name, prompt)  # path without extension
        assert text.strip() and text == text.strip(), (name, prompt, text)
        assert any(ch.isalpha() for ch in text), (name, prompt, text)  # words, not digits
    assert any(p.startswith("digits/") for p in prompts)


@pytest.mark.parametrize("name", sorted(PROMPT_SETS))
def test_every_prompt_set_says_where_it_comes_from_and_its_licence(name):
    spec = PROMPT_SETS[name]
    assert name.startswith("prompt-")
    for field in spec._fields:
        value = getattr(spec, field)
        assert isinstance(value, str) and value.strip(), f"{name}: {field} is empty"
    assert spec.package.startswith("asterisk-prompt-")
    assert spec.speaker.startswith("asterisk-") and len(spec.language) == 2
    # The table's header names the package it describes.
    assert spec.package in _table_text(name).split("\n", 1)[0]
    assert name in SOURCES


def test_prompt_set_speakers_are_distinct_from_each_other_and_the_core_sets():
    speakers = [s.speaker for s in PROMPT_SETS.values()] + [speaker for _, speaker in SETS.values()]
    assert len(set(speakers)) == len(speakers)


def test_no_source_refers_to_the_reserved_evaluation_packages():
    assert set(SOURCES) == set(SETS) | set(PROMPT_SETS)
    texts = [*SOURCES]
    for name, spec in PROMPT_SETS.items():
        texts += [*spec, _table_text(name)]
    for name, (language, speaker) in SETS.items():
        # A core set reads asterisk-core-sounds-<language>: the reserved languages are not allowed.
        assert language not in ("fr", "es", "it"), name
        texts += [f"asterisk-core-sounds-{language}", speaker]
    for text in texts:
        for reserved in RESERVED:
            assert reserved not in text, (reserved, text[:80])
    # The folders read are the prompt packages' own, not the core sounds' language folders of the
    # reserved languages (fr_FR_..., es_ES_..., it_IT_... without the Menardi voice).
    for spec in PROMPT_SETS.values():
        assert not spec.folder.startswith(("fr_FR", "es_ES")) and spec.folder not in ("it", "it_IT"), spec


def _installed(name: str):
    spec = PROMPT_SETS[name]
    if not (SOUNDS / spec.folder).is_dir():
        pytest.skip(f"apt-get install {spec.package}")
    return spec


@pytest.mark.parametrize("name", sorted(PROMPT_SETS))
def test_first_prompt_decodes_to_16k_mono_speech(name):
    from bridge.audio import RAW_AV_FORMATS, load_audio

    _installed(name)
    found = asterisk.prompt_set(name)
    rows = dict(_rows(name))
    assert found, f"{name}: the folder is there but no prompt of the table is"
    assert [p.name for p in found] == sorted(p.name for p in found)
    assert len(found) >= 0.9 * len(rows)  # the table names files the package ships
    prompt = found[0]
    assert prompt.text == rows[prompt.name] and prompt.audio.suffix in RAW_AV_FORMATS
    audio = load_audio(prompt.audio)
    assert audio.dtype == np.float32 and audio.ndim == 1
    # 8 kHz GSM, 33 bytes per 160 samples, comes back at 16 kHz: twice as many samples.
    frames = prompt.audio.stat().st_size // GSM_FRAME_BYTES
    assert abs(len(audio) - 2 * GSM_FRAME_SAMPLES * frames) <= 2 * GSM_FRAME_SAMPLES
    assert 0.2 < len(audio) / 16000 < 5.0  # a word or two
    assert np.all(np.isfinite(audio)) and np.abs(audio).max() <= 1.0
    level = 10 * np.log10(np.mean(audio.astype(np.float64) ** 2))
    assert -45 < level < -3, f"{prompt.audio}: {level:.1f} dBFS is not a spoken prompt"


@pytest.mark.parametrize("name", sorted(PROMPT_SETS))
def test_the_audio_read_belongs_to_the_named_package(name):
    spec = _installed(name)
    if shutil.which("dpkg-query") is None:
        pytest.skip("not a Debian system")
    prompt = asterisk.prompt_set(name)[0]
    owner = subprocess.run(["dpkg-query", "-S", str(prompt.audio.resolve())], capture_output=True, text=True)
    assert owner.returncode == 0, owner.stderr
    packages = {p.strip() for p in owner.stdout.split(":", 1)[0].split(",")}
    assert spec.package in packages
    assert not any(p.startswith(RESERVED) for p in packages)
