"""Pieces more than one preset uses: aligned prediction, the lip/non-lip split of a rig, speaker
style rows, causal ALiBi self-attention over a bounded window, and an EMA vector quantiser.

Kept here (not in a preset's file) only because two or more presets need the same maths.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from retarget.spaces import get_space

LIP_REGIONS = ("jaw", "mouth", "tongue")  # what speech moves; everything else carries emotion and idle motion


def lip_mask(space: str) -> torch.Tensor:
    """Bool [K]: the rig's lip-related curves (jaw, mouth, tongue regions of retarget/data/spaces).

    On FLAME the expression coefficients are global (they move the whole face), so only the jaw
    rotation counts as lip-related there; papers on FLAME use a vertex mask instead."""
    return torch.from_numpy(np.asarray(get_space(space).region_mask(*LIP_REGIONS), dtype=bool))


def predict_aligned(
    net, mel, emotion, intensity, silence_mel: float, auto: bool = False, early: int = 0, on_time=()
) -> dict:
    """Offline pass of any causal preset, aligned to the audio: frame t of the result is the
    network's output row t + lookahead (the audio is padded on the right with silence). With
    `early`, only the keys in `on_time` are read so; the others are read from row
    t + lookahead - early (outputs that run `early` frames ahead of a filter centred on them)."""
    la, n = net.cfg.lookahead, mel.shape[1]
    pad = torch.full((mel.shape[0], la, mel.shape[2]), silence_mel, device=mel.device, dtype=mel.dtype)
    mel = torch.cat([mel, pad], 1)
    positions = torch.arange(mel.shape[1], device=mel.device).expand(mel.shape[0], -1)
    out = net(mel, emotion, intensity, positions, auto)
    return {k: v[:, la : la + n] if k in on_time else v[:, la - early : la - early + n] for k, v in out.items()}


def difference_loss(pred: torch.Tensor, target: torch.Tensor, order: int = 1) -> torch.Tensor:
    """Mean squared error of `order`-th frame differences, summed over curves ([B, T, K])."""
    return ((pred.diff(n=order, dim=1) - target.diff(n=order, dim=1)) ** 2).sum(-1).mean()


def velocity_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Frame-to-frame differences (the papers' velocity loss)."""
    return difference_loss(pred, target, 1)


def acceleration_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Second differences: what the jitter row measures, so a face that shakes where the
    teacher's moves smoothly costs here."""
    return difference_loss(pred, target, 2)


def speaker_rows(speaker: torch.Tensor | None, n_speakers: int, batch: int, device) -> torch.Tensor:
    """Batch speaker indices (-1 unknown; None: all unknown) -> rows of a style table whose last
    row, `n_speakers`, is the 'unknown' speaker (a live user is never a training speaker)."""
    if speaker is None:
        return torch.full((batch,), n_speakers, dtype=torch.long, device=device)
    speaker = speaker.to(device=device, dtype=torch.long).reshape(-1)
    if speaker.numel() and (int(speaker.min()) < -1 or int(speaker.max()) >= n_speakers):
        raise ValueError(
            f"speaker indices must be -1 (unknown) or 0..{n_speakers - 1} (n_speakers={n_speakers}), "
            f"got {sorted(set(speaker.tolist()))}"
        )
    return torch.where(speaker < 0, torch.full_like(speaker, n_speakers), speaker)


def grown_speaker_table(old: nn.Embedding, known: int, n: int) -> nn.Embedding:
    """A style table for n speakers + 'unknown' from one for `known` (rows 0..known-1 and the unknown
    row `known` kept; new rows start as initialised)."""
    table = nn.Embedding(n + 1, old.embedding_dim).to(old.weight.device, old.weight.dtype)
    with torch.no_grad():
        table.weight[:known] = old.weight[:known]
        table.weight[n] = old.weight[known]
    return table


def alibi_slopes(n_heads: int) -> torch.Tensor:
    """ALiBi head slopes 2^(-8 i / n) (Press et al. 2022), for any head count."""
    return torch.tensor([2 ** (-8 * (i + 1) / n_heads) for i in range(n_heads)])


def alibi_causal_bias(n_heads: int, t_q: int, t_k: int, window: int, period: int = 1, device=None) -> torch.Tensor:
    """[H, t_q, t_k] additive attention bias: query i (the last t_q of t_k positions) sees keys
    j <= i within `window` frames, penalised by slope * floor((i - j) / period); others -inf.

    `period` > 1 gives FaceFormer/EmoTalk's periodic bias (the same bias for a period of frames)."""
    q = torch.arange(t_k - t_q, t_k, device=device)[:, None]
    k = torch.arange(t_k, device=device)[None, :]
    dist = q - k
    bias = -(dist // period).clamp(min=0).float()[None] * alibi_slopes(n_heads).to(device)[:, None, None]
    visible = (dist >= 0) & (dist < window)
    return bias.masked_fill(~visible[None], float("-inf"))


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention with an ALiBi causal bias over a bounded window of past frames.

    Bounded so that a frame depends on at most `window` - 1 past frames: streaming (which keeps
    only that much history) then equals offline exactly."""

    def __init__(self, dim: int, n_heads: int, window: int, period: int = 1, dropout: float = 0.0):
        super().__init__()
        assert dim % n_heads == 0, "dim must be a multiple of n_heads"
        self.n_heads, self.window, self.period = n_heads, window, period
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.dropout = dropout

    def forward(self, x: torch.Tensor, extra_mask: torch.Tensor | None = None) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.n_heads, d // self.n_heads).permute(2, 0, 3, 1, 4)
        bias = alibi_causal_bias(self.n_heads, t, t, self.window, self.period, x.device)
        if extra_mask is not None:  # [t, t] bool, True = may attend
            bias = bias.masked_fill(~extra_mask[None], float("-inf"))
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=bias[None], dropout_p=self.dropout if self.training else 0
        )
        return self.out(y.transpose(1, 2).reshape(b, t, d))


class VectorQuantizerEMA(nn.Module):
    """Nearest-codeword quantiser whose codebook follows an exponential moving average of the
    encoder outputs assigned to it (van den Oord et al. 2017, App. A.1), with a commitment loss
    and the straight-through gradient. Dead codes are re-seeded from the batch."""

    def __init__(self, n_codes: int, dim: int, decay: float = 0.99, beta: float = 0.25, eps: float = 1e-5):
        super().__init__()
        self.n_codes, self.dim, self.decay, self.beta, self.eps = n_codes, dim, decay, beta, eps
        self.register_buffer("codebook", torch.randn(n_codes, dim) / math.sqrt(dim))
        self.register_buffer("cluster_size", torch.ones(n_codes))
        self.register_buffer("embed_sum", self.codebook.clone())

    def indices(self, z: torch.Tensor) -> torch.Tensor:
        """[..., dim] -> [...] nearest code."""
        flat = z.reshape(-1, self.dim)
        dist = flat.pow(2).sum(1, keepdim=True) - 2 * flat @ self.codebook.T + self.codebook.pow(2).sum(1)[None]
        return dist.argmin(1).view(z.shape[:-1])

    def lookup(self, idx: torch.Tensor) -> torch.Tensor:
        return F.embedding(idx, self.codebook)

    def forward(self, z: torch.Tensor):
        """-> (quantised with straight-through gradient, indices, commitment loss)."""
        idx = self.indices(z)
        zq = self.lookup(idx)
        if self.training:
            with torch.no_grad():
                flat, onehot = z.reshape(-1, self.dim), F.one_hot(idx.reshape(-1), self.n_codes).type(z.dtype)
                self.cluster_size.mul_(self.decay).add_(onehot.sum(0), alpha=1 - self.decay)
                self.embed_sum.mul_(self.decay).add_(onehot.T @ flat, alpha=1 - self.decay)
                n = self.cluster_size.sum()
                size = (self.cluster_size + self.eps) / (n + self.n_codes * self.eps) * n
                self.codebook.copy_(self.embed_sum / size[:, None])
                dead = self.cluster_size < 1e-3
                if dead.any():  # re-seed unused codes from random encoder outputs
                    pick = flat[torch.randint(len(flat), (int(dead.sum()),), device=z.device)]
                    self.codebook[dead] = pick
                    self.embed_sum[dead] = pick
                    self.cluster_size[dead] = 1.0
        commit = self.beta * F.mse_loss(z, zq.detach())
        return z + (zq - z).detach(), idx, commit
