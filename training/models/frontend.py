"""Speech front-ends: audio -> per-frame speech features S_1:T at 100 frames/s (10 ms hop).

DEITalk (Sec. 3.2) encodes speech with Wav2Vec 2.0 (768-d, 50 Hz, resampled to the rig rate).
That encoder is large and looks at the whole utterance, which does not stream; the documented
substitute is `MelFrontend`: the same log-mel as training/features.py (so the feature cache
written at training time and the features computed at run time agree) followed by a small causal
conv stack. `HFAudioEncoder` keeps the paper's path open for offline use, loading a wav2vec2 or
HuBERT model only from a local folder (transformers is optional, never a hard dependency).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from training.features import MEL_FLOOR, MEL_OFFSET, MEL_SCALE, FeatureParams, mel_filterbank

# The normalisation and its floor are training/features.py's (torch-free, shared with training).


class LogMel(nn.Module):
    """Windows [..., win_length] -> log-mel [..., n_mels], exactly training.features.log_mel's maths.

    The mel matrix comes from training.features.mel_filterbank and is a buffer (saved with the
    weights), so a checkpoint keeps computing the features it was trained on."""

    def __init__(self, params: FeatureParams | None = None):
        super().__init__()
        self.params = params = params or FeatureParams()
        window = np.hanning(params.win_length + 1)[:-1]  # periodic Hann, as features.log_mel
        self.register_buffer("window", torch.tensor(window, dtype=torch.float32), persistent=False)
        self.register_buffer("mel", torch.tensor(mel_filterbank(params).T, dtype=torch.float32), persistent=False)

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        spec = torch.fft.rfft(windows * self.window, n=self.params.n_fft)
        power = spec.real**2 + spec.imag**2
        return torch.log(torch.clamp(power @ self.mel, min=self.params.log_floor))

    def frames(self, audio: torch.Tensor) -> torch.Tensor:
        """Whole signals [B, N] -> [B, 1 + N // hop, n_mels], frame t centred on sample t*hop (zero padded)."""
        p = self.params
        half = p.win_length // 2
        t = 1 + audio.shape[-1] // p.hop_length
        pad_right = (t - 1) * p.hop_length + p.win_length - half - audio.shape[-1]
        padded = F.pad(audio, (half, max(0, pad_right)))
        return self(padded.unfold(-1, p.win_length, p.hop_length)[..., :t, :])


def normalise_mel(logmel: torch.Tensor) -> torch.Tensor:
    return (logmel.clamp(min=MEL_FLOOR) + MEL_OFFSET) / MEL_SCALE


class CausalConv(nn.Conv1d):
    """Conv1d over [B, C, T] that sees only the past: left padding (k-1)*d, so frame t uses t-(k-1)d..t."""

    def __init__(self, c_in: int, c_out: int, kernel: int, dilation: int):
        super().__init__(c_in, c_out, kernel, dilation=dilation)
        self.left = (kernel - 1) * dilation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(x, (self.left, 0)))

    def step(self, x: torch.Tensor, past: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Streaming: new columns [B, C, n] and the last `left` input columns seen (None at the
        start: zeros, as forward's padding) -> (outputs for the new columns, the new `past`)."""
        if past is None:
            past = x.new_zeros(x.shape[0], x.shape[1], self.left)
        full = torch.cat([past, x], 2)
        return super().forward(full), full[:, :, full.shape[2] - self.left :]


class MelFrontend(nn.Module):
    """Normalised log-mel [B, T, n_mels] -> speech features [B, T, d_out] with causal convs (GELU)."""

    def __init__(self, n_mels: int, d_out: int, kernel: int = 3, dilations=(1, 2)):
        super().__init__()
        chans = [n_mels] + [d_out] * len(dilations)
        self.convs = nn.ModuleList(CausalConv(a, b, kernel, d) for a, b, d in zip(chans, chans[1:], dilations))
        self.left_context = sum(c.left for c in self.convs)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = mel.transpose(1, 2)
        for conv in self.convs:
            x = F.gelu(conv(x))
        return x.transpose(1, 2)

    def step(self, mel: torch.Tensor, cache: dict, prefix: str = "front") -> torch.Tensor:
        """Streaming forward of new rows; `cache` (a dict of tensors) is updated in place."""
        x = mel.transpose(1, 2)
        for i, conv in enumerate(self.convs):
            y, cache[f"{prefix}{i}"] = conv.step(x, cache.get(f"{prefix}{i}"))
            x = F.gelu(y)
        return x.transpose(1, 2)


class HFAudioEncoder(nn.Module):
    """A local wav2vec2/HuBERT checkpoint as the speech encoder (DEITalk Sec. 3.2), offline only.

    Loaded with local_files_only=True: emorig never downloads weights. Its 50 Hz hidden states are
    linearly interpolated to the 100 Hz frame grid (the paper interpolates to its 30 Hz rig rate)."""

    def __init__(self, local_path, frame_rate: float = 100.0, freeze_feature_encoder: bool = True):
        super().__init__()
        try:
            from transformers import AutoModel
        except ImportError as e:  # optional dependency
            raise ImportError("HFAudioEncoder needs `pip install transformers`") from e
        self.model = AutoModel.from_pretrained(str(local_path), local_files_only=True)
        if freeze_feature_encoder and hasattr(self.model, "freeze_feature_encoder"):
            self.model.freeze_feature_encoder()  # the paper fixes wav2vec2's TCN part (Sec. 4.1)
        self.frame_rate = frame_rate
        self.d_out = self.model.config.hidden_size

    def forward(self, audio: torch.Tensor, sample_rate: int = 16000) -> torch.Tensor:
        """[B, N] audio -> [B, 1 + N // hop, hidden] at frame_rate."""
        hidden = self.model(audio).last_hidden_state  # [B, T50, H]
        n = 1 + int(audio.shape[-1] * self.frame_rate) // sample_rate
        return F.interpolate(hidden.transpose(1, 2), size=n, mode="linear", align_corners=False).transpose(1, 2)
