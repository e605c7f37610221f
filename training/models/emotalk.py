"""EmoTalk (speech-driven emotional disentanglement), one readable file, sizes from a dataclass config.

Paper: "EmoTalk: Speech-Driven Emotional Disentanglement for 3D Face Animation" (Peng et al., ICCV 2023;
/work/shared/papers/emotalk.txt). Pieces, with the paper's sections:

- emotion disentangling encoder, EDE (Sec. 3.1): two separate speech encoders, content E_c and emotion
  E_e (two fine-tuned wav2vec 2.0, 1024-d, in the paper; here two MelFrontend substitutes, 1024-d);
  content features F_c = linear(E_c) (512-d); the emotion latent M = linear(E_e) (832-d, the memory of
  the emotion-guided attention) and F_e = ReLU(linear(M)) (256-d); an emotion classifier on E_e
  (Eq. 6; the released code mean-pools E_e, then dense + tanh + linear);
- pseudo-training pairs (Sec. 3.1, Eq. 3-4): two audios of one sentence in two emotions; the decoder
  must rebuild each clip from its own features (self-reconstruction) and from the other clip's content
  with its own emotion (cross-reconstruction);
- emotion-guided feature fusion decoder (Sec. 3.2): [F_c 512, F_e 256, F_l 32 emotion level, F_p 32
  personal style] = 832-d, plus periodic positional encoding (FaceFormer's PPE); a Transformer decoder
  layer (4 heads, feed-forward 832, one layer, as the released code): ALiBi-biased causal
  self-attention (periodic bias), emotion-guided multi-head attention (queries f'_t, keys/values the
  emotion latent M), feed-forward, then a linear audio-blendshape head (zero-initialised, as released);
- loss L = 1.0 L_cross + 1.0 L_self + 0.5 L_vel + 0.1 L_cls (Eq. 2-6).

Mapping onto emorig's inputs (training/models/__init__.py has the contract):
- emotion level l (a one-hot in R^2, weak/strong) is our intensity k: l = [1 - k, k], which is the
  paper's one-hot at k = 0 and k = 1 and interpolates (or, above 1, extrapolates) between them;
- personal style p (a one-hot over the 24 RAVDESS actors) is a learned embedding of the batch's
  `speaker` with `n_speakers` rows plus one reserved 'unknown' row (speaker -1). Training sends a
  known speaker to the unknown row with probability `speaker_dropout`, so that row learns the average
  style; inference (which has no speaker) always uses it. Not in the paper, which has no unknown style;
- the bridge's emotion weights: EmoTalk reads the emotion from the speech only. Here an emotion-label
  embedding (linear in the 8 weights) is added to the emotion latent M, so the user's emotion steers
  the face; with auto=True the weights are the classifier's own per-frame probabilities instead.
  In cross-reconstruction the label, like the speech emotion features and the level, comes from the
  clip that gives the emotion;
- cross-reconstruction pairs are the batch's pair_* keys: the same sentence and speaker in another
  emotion, time-aligned. The paper's pairs differ in content too (A_{c1,e2}, A_{c2,e1}, which needs four
  clips); ours share the content, so L_cross = |D(E_c(A), E_e(P)) - B_P|^2 + |D(E_c(P), E_e(A)) - B_A|^2
  over the rows whose pair_mask is set (0 when none is). L_self covers every clip and every pair clip.

Changes for real-time streaming, each because the paper's choice needs the whole utterance:
- wav2vec 2.0 attends over the whole file: the encoders are causal conv stacks over the same log-mel
  as training/features.py (see frontend.py; `HFAudioEncoder` keeps wav2vec2 for offline experiments);
- self-attention is causal over a bounded window of `attn_window` frames, emotion-guided attention over
  the last `emotion_window` frames of the emotion latent (the released code's alignment mask lets frame
  t see only memory frame t: emotion_window = 1), so a frame depends on a bounded past and streaming
  equals offline exactly; `lookahead` frames of future are bought by reading the output late;
  `stream` computes only new rows, from cached conv inputs, emotion features, emotion latent and
  layer inputs (fixed-size caches, so subjects at different points of their streams batch together);
- the classifier pools E_e with a causal sliding mean over `cls_window` frames, not the whole clip, so
  "emotion_logits" exists for every frame (and drives auto mode); L_cls is the mean per-frame
  cross-entropy of those logits;
- PPE/ALiBi period: the paper's 30 frames are 1 s at 30 fps; inside a bounded window a 1 s period
  (100 frames here) would leave the bias nearly flat, so the default period is 25 frames (250 ms,
  about a syllable), which gives `attn_window` / `period` = 4 bias steps.

Reconstruction and velocity errors are squared errors summed over the rig's curves and averaged over
frames and clips, as in deitalk.py (blocks.velocity_loss).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from retarget.spaces import get_space
from training.emotions import EMOTIONS

from .blocks import (
    CausalSelfAttention,
    alibi_causal_bias,
    grown_speaker_table,
    predict_aligned,
    speaker_rows,
    velocity_loss,
)
from .frontend import MelFrontend


@dataclass
class EmoTalkConfig:
    space: str = "arkit"  # any rig space; the paper's is 52 ARKit blendshapes (Sec. 3)
    n_mels: int = 80  # training/features.py front end
    d_encoder: int = 1024  # E_c, E_e width: wav2vec 2.0 large (Sec. 3.1); the mel front ends project to it
    frontend_kernel: int = 3  # substitute front ends, not in the paper
    content_dilations: tuple[int, ...] = (1, 2, 4)  # short-term content (Sec. 3.1)
    emotion_dilations: tuple[int, ...] = (1, 2, 4, 8)  # longer-term emotion (Sec. 3.1)
    d_content: int = 512  # F_c (Sec. 3.2)
    d_emotion: int = 256  # F_e (Sec. 3.2)
    d_level: int = 32  # F_l (Sec. 3.2)
    d_style: int = 32  # F_p (Sec. 3.2)
    n_speakers: int = 24  # personal styles (RAVDESS's 24 actors, Sec. 3); one more row means 'unknown'
    classifier_hidden: int = 1024  # dense layer of the emotion head (released code: the encoder width)
    n_heads: int = 4  # released code
    d_ff: int = 832  # feed-forward width (released code: the feature width)
    n_layers: int = 1  # released code
    dropout: float = 0.1  # torch's TransformerDecoderLayer default, as released
    period: int = 25  # PPE and ALiBi period in frames (paper: 30 frames = 1 s at 30 fps; see above)
    attn_window: int = 100  # frames of past one self-attention query sees (1 s)
    emotion_window: int = 100  # frames of the emotion latent the emotion-guided attention sees
    cls_window: int = 100  # frames of the causal sliding mean under the emotion classifier
    lookahead: int = 10  # frames of future audio (100 ms)
    speaker_dropout: float = 0.1  # training: known speaker -> unknown row, so that row learns the average
    w_cross: float = 1.0  # lambda_1 (Eq. 2)
    w_self: float = 1.0  # lambda_2
    w_vel: float = 0.5  # lambda_3
    w_cls: float = 0.1  # lambda_4

    def __post_init__(self):  # JSON gives lists; keep tuples so configs compare equal
        for name in ("content_dilations", "emotion_dilations"):
            setattr(self, name, tuple(getattr(self, name)))

    @property
    def d_model(self) -> int:
        """Fused feature width: F_c + F_e + F_l + F_p (832 at the paper's sizes)."""
        return self.d_content + self.d_emotion + self.d_level + self.d_style

    @property
    def n_curves(self) -> int:
        return len(get_space(self.space))

    @property
    def left_context(self) -> int:
        """Past frames (of log-mel) one output row depends on.

        The fused input x_j needs the content front end and, through F_e and the emotion weights
        (auto mode: the classifier's sliding mean), the emotion front end plus cls_window - 1 frames;
        the emotion latent M_j needs the latter. Each layer's self-attention adds attn_window - 1
        frames; the last layer's emotion-guided attention reads M over emotion_window frames."""
        k = self.frontend_kernel - 1
        content = k * sum(self.content_dilations)
        memory = k * sum(self.emotion_dilations) + self.cls_window - 1
        fused = max(content, memory)
        sa = self.attn_window - 1
        return max(self.n_layers * sa + fused, (self.n_layers - 1) * sa + self.emotion_window - 1 + memory)


def periodic_positional_encoding(positions: torch.Tensor, dim: int, period: int) -> torch.Tensor:
    """FaceFormer's PPE (EmoTalk Sec. 3.2): the sinusoidal encoding of (t mod period).

    positions: [B, T] absolute frame indices -> [B, T, dim]."""
    pos = (positions % period).float()[..., None]
    freq = torch.exp(torch.arange(0, dim, 2, device=positions.device).float() * (-math.log(10000.0) / dim))
    pe = torch.zeros(*positions.shape, dim, device=positions.device)
    pe[..., 0::2] = torch.sin(pos * freq)
    pe[..., 1::2] = torch.cos(pos * freq)[..., : dim // 2]
    return pe


def causal_sliding_mean(x: torch.Tensor, window: int) -> torch.Tensor:
    """[B, T, C] -> mean over the last `window` frames (fewer at the start), each window summed anew
    (no running cumsum, so a stream that starts later gives the same numbers)."""
    t = x.shape[1]
    padded = F.pad(x.transpose(1, 2), (window - 1, 0))
    total = F.avg_pool1d(padded, window, stride=1) * window
    count = torch.arange(1, t + 1, device=x.device).clamp(max=window).to(x.dtype)
    return (total / count).transpose(1, 2)


class CausalCrossAttention(nn.Module):
    """Emotion-guided multi-head attention (Sec. 3.2): queries from the decoder, keys and values from
    the emotion latent; query t sees memory frames t - window + 1 .. t. The queries are the last
    frames of the memory's (streaming passes only the new rows as queries)."""

    def __init__(self, dim: int, n_heads: int, window: int, dropout: float = 0.0):
        super().__init__()
        assert dim % n_heads == 0, "dim must be a multiple of n_heads"
        self.n_heads, self.window, self.dropout = n_heads, window, dropout
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, memory: torch.Tensor, key_valid: torch.Tensor | None = None) -> torch.Tensor:
        """x [B, t_q, d], memory [B, t_k, d] (t_k >= t_q), key_valid [B, t_k] bool (None: all)."""
        b, t, d = x.shape
        t_k, h = memory.shape[1], self.n_heads
        q = self.q(x).view(b, t, h, d // h).transpose(1, 2)
        k, v = self.kv(memory).view(b, t_k, 2, h, d // h).permute(2, 0, 3, 1, 4)
        dist = torch.arange(t_k - t, t_k, device=x.device)[:, None] - torch.arange(t_k, device=x.device)[None, :]
        visible = ((dist >= 0) & (dist < self.window))[None, None]
        if key_valid is not None:
            visible = visible & key_valid[:, None, None, :]
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=visible, dropout_p=self.dropout if self.training else 0)
        return self.out(y.transpose(1, 2).reshape(b, t, d))


def _self_attention_new_rows(attn: CausalSelfAttention, x_new, x_all, key_valid):
    """blocks.CausalSelfAttention for the last rows only: queries x_new [B, n, d] (the last n rows of
    x_all [B, t_k, d]), keys/values x_all, where key_valid [B, t_k] marks rows that exist."""
    b, n, d = x_new.shape
    t_k, h = x_all.shape[1], attn.n_heads
    w, bias = attn.qkv.weight, attn.qkv.bias
    q = F.linear(x_new, w[:d], bias[:d]).view(b, n, h, d // h).transpose(1, 2)
    k, v = F.linear(x_all, w[d:], bias[d:]).view(b, t_k, 2, h, d // h).permute(2, 0, 3, 1, 4)
    mask = alibi_causal_bias(h, n, t_k, attn.window, attn.period, x_new.device)[None]
    mask = mask.masked_fill(~key_valid[:, None, None, :], float("-inf"))
    y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    return attn.out(y.transpose(1, 2).reshape(b, n, d))


class FusionDecoderLayer(nn.Module):
    """One Transformer decoder layer (post-norm, as torch's TransformerDecoderLayer in the released code):
    ALiBi self-attention -> f'_t, emotion-guided attention -> f''_t, feed-forward -> f'''_t."""

    def __init__(self, cfg: EmoTalkConfig):
        super().__init__()
        d = cfg.d_model
        self.self_attn = CausalSelfAttention(d, cfg.n_heads, cfg.attn_window, cfg.period, cfg.dropout)
        self.emotion_attn = CausalCrossAttention(d, cfg.n_heads, cfg.emotion_window, cfg.dropout)
        self.ff = nn.Sequential(nn.Linear(d, cfg.d_ff), nn.ReLU(), nn.Dropout(cfg.dropout), nn.Linear(cfg.d_ff, d))
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        x = self.norm1(x + self.drop(self.self_attn(x)))
        x = self.norm2(x + self.drop(self.emotion_attn(x, memory)))
        return self.norm3(x + self.drop(self.ff(x)))

    def step(self, x_new, x_all, x_valid, memory_all, memory_valid) -> torch.Tensor:
        """Inference on new rows x_new (the last rows of x_all; memory_all ends on the same row)."""
        x = self.norm1(x_new + _self_attention_new_rows(self.self_attn, x_new, x_all, x_valid))
        x = self.norm2(x + self.emotion_attn(x, memory_all, memory_valid))
        return self.norm3(x + self.ff(x))


class EmoTalk(nn.Module):
    def __init__(self, cfg: EmoTalkConfig):
        super().__init__()
        self.cfg = cfg
        n_emotions = len(EMOTIONS)
        d = cfg.d_model
        # Emotion disentangling encoder (Sec. 3.1): E_c and E_e, separate weights.
        self.content_encoder = MelFrontend(cfg.n_mels, cfg.d_encoder, cfg.frontend_kernel, cfg.content_dilations)
        self.emotion_encoder = MelFrontend(cfg.n_mels, cfg.d_encoder, cfg.frontend_kernel, cfg.emotion_dilations)
        self.content_map = nn.Linear(cfg.d_encoder, cfg.d_content)  # -> F_c
        self.emotion_map = nn.Linear(cfg.d_encoder, d)  # -> emotion latent M (attention memory)
        self.emotion_label = nn.Linear(n_emotions, d, bias=False)  # emorig: the emotion control, added to M
        self.emotion_feature = nn.Linear(d, cfg.d_emotion)  # M -> F_e (with ReLU)
        self.classifier = nn.Sequential(  # Eq. 6, on the (sliding-mean pooled) E_e
            nn.Dropout(cfg.dropout),
            nn.Linear(cfg.d_encoder, cfg.classifier_hidden),
            nn.Tanh(),
            nn.Dropout(cfg.dropout),
            nn.Linear(cfg.classifier_hidden, n_emotions),
        )
        # Emotion level l in R^2 -> F_l; personal style -> F_p (row n_speakers = unknown).
        self.level = nn.Linear(2, cfg.d_level)
        self.style = nn.Embedding(cfg.n_speakers + 1, cfg.d_style)
        # Emotion-guided feature fusion decoder (Sec. 3.2).
        self.layers = nn.ModuleList(FusionDecoderLayer(cfg) for _ in range(cfg.n_layers))
        self.head = nn.Linear(d, cfg.n_curves)
        nn.init.zeros_(self.head.weight)  # as released: start from the neutral face
        nn.init.zeros_(self.head.bias)

    # -- personal style ----------------------------------------------------------------------------
    @property
    def n_speakers_seen(self) -> int:
        return self.cfg.n_speakers

    @n_speakers_seen.setter
    def n_speakers_seen(self, n: int) -> None:
        """The trainer's hook (training/train.py): the number of speakers its data indexes. A table
        too small for them grows (known rows and the unknown row kept; cfg.n_speakers follows, so the
        checkpoint's config builds the same table); it never shrinks."""
        if n <= self.cfg.n_speakers:
            return
        self.style = grown_speaker_table(self.style, self.cfg.n_speakers, n)
        self.cfg.n_speakers = n

    # -- pieces ---------------------------------------------------------------------------------
    def encode(self, mel: torch.Tensor):
        """mel [B, T, n_mels] -> (F_c [B, T, d_content], E_e [B, T, d_encoder], emotion_logits [B, T, 8])."""
        content = self.content_map(self.content_encoder(mel))
        emo = self.emotion_encoder(mel)
        logits = self.classifier(causal_sliding_mean(emo, self.cfg.cls_window))
        return content, emo, logits

    def speaker_index(self, speaker: torch.Tensor | None, batch: int, device) -> torch.Tensor:
        """Batch speakers (-1 unknown, None: all unknown) -> rows of the style table."""
        return speaker_rows(speaker, self.cfg.n_speakers, batch, device)

    def fuse(self, content, emo, logits, emotion, intensity, style_index, positions, auto: bool = False):
        """Per-frame decoder input x = [F_c, F_e, F_l, F_p] + PPE and the emotion latent M.

        emotion [B, 8] weights (ignored when auto: the per-frame softmax of `logits` instead);
        intensity [B]; style_index [B] rows of the style table; positions [B, T]."""
        cfg = self.cfg
        t = content.shape[1]
        weights = logits.softmax(-1) if auto else emotion[:, None, :].expand(-1, t, -1)
        memory = self.emotion_map(emo) + self.emotion_label(weights)  # emotion latent M
        f_e = F.relu(self.emotion_feature(memory))
        k = intensity.reshape(-1, 1).to(content.dtype)
        f_l = self.level(torch.cat([1 - k, k], -1))[:, None, :].expand(-1, t, -1)
        f_p = self.style(style_index)[:, None, :].expand(-1, t, -1)
        x = torch.cat([content, f_e, f_l, f_p], -1)
        return x + periodic_positional_encoding(positions, cfg.d_model, cfg.period), memory

    def decode(self, content, emo, logits, emotion, intensity, style_index, positions, auto: bool = False):
        """The fusion decoder on encoded features (content and emotion may come from different clips)."""
        x, memory = self.fuse(content, emo, logits, emotion, intensity, style_index, positions, auto)
        for layer in self.layers:
            x = layer(x, memory)
        return self.head(x)

    # -- the causal network -------------------------------------------------------------------
    def forward(self, mel, emotion, intensity, positions, auto: bool = False, speaker=None):
        """Causal pass: output row p depends on mel rows p - left_context .. p only.

        mel [B, T, n_mels] normalised log-mel; emotion [B, 8] weights; intensity [B] (emotion level);
        positions [B, T] absolute frame indices (for PPE); speaker [B] (-1 or None: the unknown style).
        Returns rig [B, T, K] and emotion_logits [B, T, 8]."""
        content, emo, logits = self.encode(mel)
        style = self.speaker_index(speaker, mel.shape[0], mel.device)
        rig = self.decode(content, emo, logits, emotion, intensity, style, positions, auto)
        return {"rig": rig, "emotion_logits": logits}

    def stream(self, mel, emotion, intensity, positions, cache: dict, auto: bool = False, speaker=None):
        """The causal pass for new rows only, as if the rows before them were in `mel`; same results
        as forward (training/inference.py uses it). `cache` ({} at the start of a stream, updated in
        place) holds fixed-size tensors, batch first, so streams at different points stack: each conv's
        last inputs, the emotion features the classifier's sliding mean still needs, the emotion latent
        and every layer's input over the attention windows, and the rows seen so far ("seen").
        Cached rows keep the controls they were computed with (forward recomputes the window with the
        current ones: the two differ only while a control moves)."""
        cfg = self.cfg
        b, n = mel.shape[:2]
        if not cache:
            z = mel.new_zeros
            cache["seen"] = torch.zeros(b, dtype=torch.long, device=mel.device)
            cache["emo"] = z(b, cfg.cls_window - 1, cfg.d_encoder)
            cache["memory"] = z(b, cfg.emotion_window - 1, cfg.d_model)
            for i in range(cfg.n_layers):
                cache[f"x{i}"] = z(b, cfg.attn_window - 1, cfg.d_model)
        seen = cache["seen"]

        def joined(name, new):  # history + new rows, which of them exist, and the history to keep
            rows = torch.cat([cache[name], new], 1)
            index = seen[:, None] - cache[name].shape[1] + torch.arange(rows.shape[1], device=mel.device)
            cache[name] = rows[:, rows.shape[1] - cache[name].shape[1] :]
            return rows, index >= 0

        content = self.content_map(self.content_encoder.step(mel, cache, "content"))
        emo = self.emotion_encoder.step(mel, cache, "emotion")
        emo_all, _ = joined("emo", emo)  # missing rows are zeros: they add nothing to a sum
        w = cfg.cls_window
        total = F.avg_pool1d(emo_all.transpose(1, 2), w, stride=1).transpose(1, 2) * w
        count = (seen[:, None] + torch.arange(1, n + 1, device=mel.device)).clamp(max=w).to(emo.dtype)
        logits = self.classifier(total / count[..., None])
        style = self.speaker_index(speaker, b, mel.device)
        x, memory = self.fuse(content, emo, logits, emotion, intensity, style, positions, auto)
        memory_all, memory_valid = joined("memory", memory)
        for i, layer in enumerate(self.layers):
            x_all, x_valid = joined(f"x{i}", x)
            x = layer.step(x, x_all, x_valid, memory_all, memory_valid)
        cache["seen"] = seen + n
        return {"rig": self.head(x), "emotion_logits": logits}

    def predict(self, mel, emotion, intensity, silence_mel: float, auto: bool = False):
        return predict_aligned(self, mel, emotion, intensity, silence_mel, auto)

    # -- training -----------------------------------------------------------------------------
    stages = ("main",)

    def stage_parameters(self, stage: str):
        return self.parameters()

    def _encode_aligned(self, mel: torch.Tensor, silence_mel: float):
        """Encode with `lookahead` frames of silence on the right (as predict_aligned); rows stay
        un-shifted so the decoder still sees them; `_aligned` drops the first `lookahead` rows."""
        pad = torch.full(
            (mel.shape[0], self.cfg.lookahead, mel.shape[2]), silence_mel, device=mel.device, dtype=mel.dtype
        )
        return self.encode(torch.cat([mel, pad], 1))

    def loss(self, batch: dict, stage: str = "main"):
        """Eq. 2 on a batch of windows (keys: see training/models/__init__.py). Returns (total, parts).

        self: every clip from its own features (and every pair clip from its own);
        cross: rows with pair_mask: content of one clip + emotion (speech features, label, level) of
        its pair -> the pair's target, both ways (Eq. 3); vel: over all of these; cls: the emotion
        encoder's per-frame logits against the clip's label (and the pair clip's)."""
        cfg = self.cfg
        la = cfg.lookahead
        mel, target, emotion, intensity = batch["mel"], batch["target"], batch["emotion"], batch["intensity"]
        b, t = mel.shape[:2]
        device = mel.device
        style = self.speaker_index(batch.get("speaker"), b, device)
        if self.training and cfg.speaker_dropout > 0:
            drop = torch.rand(b, device=device) < cfg.speaker_dropout
            style = torch.where(drop, torch.full_like(style, cfg.n_speakers), style)

        content, emo, logits = self._encode_aligned(mel, batch["silence_mel"])
        mask = batch.get("pair_mask")
        idx = mask.nonzero().flatten() if mask is not None else torch.zeros(0, dtype=torch.long, device=device)
        n = len(idx)
        # (content, emotion features, logits, label, level, target) per decoded clip, self first.
        parts_c, parts_e, parts_l, labels, levels, targets, styles = (
            [content],
            [emo],
            [logits],
            [emotion],
            [intensity],
            [target],
            [style],
        )
        n_self = b
        if n:
            p_content, p_emo, p_logits = self._encode_aligned(batch["pair_mel"][idx], batch["silence_mel"])
            p_emotion, p_intensity, p_target = (
                batch["pair_emotion"][idx],
                batch["pair_intensity"][idx],
                batch["pair_target"][idx],
            )
            s = style[idx]
            # self on the pair clips; cross: A's content + P's emotion -> B_P, P's content + A's emotion -> B_A
            parts_c += [p_content, content[idx], p_content]
            parts_e += [p_emo, p_emo, emo[idx]]
            parts_l += [p_logits, p_logits, logits[idx]]
            labels += [p_emotion, p_emotion, emotion[idx]]
            levels += [p_intensity, p_intensity, intensity[idx]]
            targets += [p_target, p_target, target[idx]]
            styles += [s, s, s]
            n_self += n
        positions = torch.arange(t + la, device=device).expand(sum(len(c) for c in parts_c), -1)
        rig = self.decode(
            torch.cat(parts_c),
            torch.cat(parts_e),
            torch.cat(parts_l),
            torch.cat(labels),
            torch.cat(levels),
            torch.cat(styles),
            positions,
        )[:, la:]
        goal = torch.cat(targets)
        err = ((rig - goal) ** 2).sum(-1).mean(-1)  # per clip: summed over curves, mean over frames
        self_rec = err[:n_self].mean()  # Eq. 4
        cross = err[n_self:].mean() if n else torch.zeros((), device=device)  # Eq. 3
        vel = velocity_loss(rig, goal)  # Eq. 5
        cls_logits = torch.cat([logits] + ([p_logits] if n else []))[:, la:]
        cls_labels = torch.cat([emotion] + ([p_emotion] if n else []))
        cls = F.cross_entropy(  # Eq. 6, per frame (soft labels allowed)
            cls_logits.reshape(-1, cls_logits.shape[-1]),
            cls_labels[:, None, :].expand(-1, t, -1).reshape(-1, cls_labels.shape[-1]),
        )
        total = cfg.w_cross * cross + cfg.w_self * self_rec + cfg.w_vel * vel + cfg.w_cls * cls
        return total, {"cross": cross.detach(), "self": self_rec.detach(), "vel": vel.detach(), "cls": cls.detach()}
