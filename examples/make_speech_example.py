"""Writes examples/speech.wav (+ speech.phones.tsv): a 5-second happy English sentence for the README.

Our own sentence, spoken by flite's awb voice through the corpus pipeline (training/corpus.py:
WORLD prosody for "happy", level normalisation, phone timings). awb is held out of the default
model's training data (the corpus's test speaker), so the README's command shows the model on a
voice it never heard. Needs flite and `pip install -e ".[corpus]"`. Run again to regenerate:
python examples/make_speech_example.py
"""

import shutil
import tempfile
from pathlib import Path

from training.corpus import ClipJob, make_clip

TEXT = "Good morning, everyone! Thanks for joining the call. Let's look at the plan for today."


def main() -> None:
    here = Path(__file__).parent
    job = ClipJob("example", TEXT, "en", "flite:awb", "happy", 1.0, "emorig-example", voice="flite:awb")
    with tempfile.TemporaryDirectory() as tmp:
        for sub in ("audio", "phones", "motion", "done"):
            (Path(tmp) / sub).mkdir()
        make_clip(job, Path(tmp), fps=60.0, motion=False, seed=0)
        shutil.copyfile(Path(tmp) / "audio" / "example.wav", here / "speech.wav")
        shutil.copyfile(Path(tmp) / "phones" / "example.tsv", here / "speech.phones.tsv")
    print(f"wrote {here / 'speech.wav'}")


if __name__ == "__main__":
    main()
