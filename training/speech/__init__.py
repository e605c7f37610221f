"""Speech for training: synthesisers with phone timings, forced alignment, sentence sets.

- voices: `engine:name` voices and one synthesize() over espeak (ctypes), flite, festival
- prosody: per-emotion prosody (data/emotion_prosody.tsv) applied with WORLD
- align: pocketsphinx forced alignment (non-English spelt by espeak-ng)
- asterisk: Debian's recorded Asterisk prompts (G.722) and their transcripts
- phones: the PHONES file format and the phone maps (data/phone_maps/*.tsv)
- sentences: the project's sentence sets (data/sentences_<lang>.txt)

Heavy or optional dependencies (pyworld, pocketsphinx, g722) are imported where used.
"""
