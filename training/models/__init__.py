"""Trained face networks (PyTorch). Import torch only from here and below, never from the bridge.

- `frontend.py`: audio -> speech features (torch log-mel + causal conv stack; or a local wav2vec2/HuBERT).
- `blocks.py`: maths two or more presets share (aligned prediction, lip mask, ALiBi attention, EMA VQ).
- one file per preset: `deitalk.py`, `emotalk.py`, `deeptalk.py`, `emotalker.py`.

The contract every preset keeps (the trainer, the evaluator and training/inference.py rely on it;
nothing else about a preset is assumed):

- `Net(cfg)` where `cfg` is the preset's dataclass config with at least `space` (rig space name),
  `lookahead` (frames of future audio, 10 ms each), a `left_context` property (past log-mel frames
  one output row depends on) and an `n_curves` property. Configs round-trip through JSON.
- `net(mel, emotion, intensity, positions, auto=False) -> dict` — the causal pass: mel
  [B, T, 80] normalised log-mel, emotion [B, 8] weights (EMOTIONS order), intensity [B], positions
  [B, T] absolute frame indices. Output row p may depend only on mel rows p - left_context .. p.
  Keys: "rig" [B, T, K] (always), "emotion_logits" [B, T, 8] (always: the preset's own estimate of
  the emotion in the speech, used when auto=True and by evaluation), "saliency" [B, T] in 0..1
  (optional: how emotional each frame is; scales the bridge's intensity track).
  With auto=True the network uses its own emotion estimate instead of `emotion`.
- `net.predict(mel, emotion, intensity, silence_mel, auto=False)`: offline and aligned (frame t of
  the result is row t + lookahead); `blocks.predict_aligned` does it for any preset.
- `net.stages`: tuple of training stage names in order, e.g. ("main",) or ("vqvae", "generator");
  `net.stage_parameters(stage)`: the parameters that stage optimises;
  `net.loss(batch, stage) -> (total, {name: detached scalar})`. `batch` keys, all float32 tensors on
  the training device unless said otherwise:
    mel [B, T, 80], target [B, T, K] (rig space of cfg.space, 100 fps, aligned with mel),
    emotion [B, 8] (one-hot or soft label), intensity [B] (0..1), speaker [B] int64 (index into
    the training speakers, -1 unknown), silence_mel (python float: normalised log-mel of silence),
    prosody [B, T, 3] (f0 in octaves above 100 Hz or 0 when unvoiced, periodicity 0..1, energy/60
    dB), closure [B, T] (1 lips sealed for a P/B/M, 0 not, -1 unknown: clips without phone
    timings), and when the data has them, pair_* (the same sentence and speaker in another emotion,
    time-aligned by resampling to the same length; pair_mask [B] bool says which rows have one):
    pair_mel, pair_target, pair_emotion, pair_intensity, pair_mask.
"""

from collections.abc import Iterator, MutableMapping
from importlib import import_module

# preset -> (its file, network class, config class). Imported when first asked for: running the
# shipped deitalk network then loads one preset file, not four (start-up of `emorig animate`).
_WHERE = {
    "deitalk": ("deitalk", "DEITalk", "DEITalkConfig"),
    "emotalk": ("emotalk", "EmoTalk", "EmoTalkConfig"),
    "emotalker": ("emotalker", "EmoTalker", "EmoTalkerConfig"),
    "deeptalk": ("deeptalk", "DEEPTalk", "DEEPTalkConfig"),
}


class _Presets(MutableMapping):
    """name -> (Net, Config), every preset listed, each file imported on first use."""

    def __init__(self):
        self._loaded: dict = {}

    def __getitem__(self, name: str):
        if name not in self._loaded:
            module, net, cfg = _WHERE[name]  # KeyError for an unknown preset, as a dict gives
            m = import_module(f"{__name__}.{module}")
            self._loaded[name] = (getattr(m, net), getattr(m, cfg))
        return self._loaded[name]

    def __contains__(self, name) -> bool:  # without importing it
        return name in _WHERE or name in self._loaded

    def __setitem__(self, name: str, value) -> None:
        self._loaded[name] = value

    def __delitem__(self, name: str) -> None:
        del self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys([*_WHERE, *self._loaded]))

    def __len__(self) -> int:
        return len(dict.fromkeys([*_WHERE, *self._loaded]))


PRESETS = _Presets()


def __getattr__(attr: str):
    """`from training.models import DEITalk` and the like, imported on first use."""
    for module, *classes in _WHERE.values():
        if attr in classes:
            return getattr(import_module(f"{__name__}.{module}"), attr)
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")


__all__ = [
    "DEEPTalk",
    "DEEPTalkConfig",
    "DEITalk",
    "DEITalkConfig",
    "EmoTalk",
    "EmoTalkConfig",
    "EmoTalker",
    "EmoTalkerConfig",
    "PRESETS",
]
