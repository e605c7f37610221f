"""Trained face networks (PyTorch). Import torch only from here and below, never from the bridge.

- `frontend.py`: audio -> speech features (torch log-mel + causal conv stack; or a local wav2vec2/HuBERT).
- `deitalk.py`: the DEITalk architecture (dynamic emotional intensity + emotion-guided TCN decoder).
"""

from .deitalk import DEITalk, DEITalkConfig

PRESETS = {"deitalk": (DEITalk, DEITalkConfig)}

__all__ = ["DEITalk", "DEITalkConfig", "PRESETS"]
