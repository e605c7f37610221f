"""DEEPTalk (dynamic emotion embedding + temporally hierarchical VQ-VAE), one readable file, sizes from a
dataclass config.

Paper: "DEEPTalk: Dynamic Emotion Embedding for Probabilistic Speech-Driven 3D Face Animation"
(/work/shared/papers/deeptalk.txt), with the released code (github.com/whwjdqls/DEEPTalk) for the numbers
the paper leaves out. Three training stages, in order; each trains only its own part:

- stage "dee", DEE (Sec. "DEE", supp. "DEE"): an audio encoder (emotion2vec features -> 2-layer
  Transformer, 8 heads, d = 128) and an expression encoder (a per-frame MLP 256-512-1024-512-128 with
  LeakyReLU -> 512-d, 6-layer Transformer), each with a mean head and a log-variance head (one
  Transformer layer + linear to 128 + generalised pooling, GPO: the features of each dimension sorted and
  weighted by a bi-GRU over positional encodings, softmax temperature 0.1; VSE-infinity / PCME++). The
  mean is L2-normalised, the log-variance is not. Loss: PCME++'s closed-form sampled distance (Eq. 7)
  CSD = |mu_a - mu_e|^2 + |sigma_a^2 + sigma_e^2|_1, matching probability sigmoid(-a CSD + b) (a, b
  learned, both start at 5), binary cross-entropy over every audio/expression pair of the batch (x2, as
  released), plus the VIB KL to N(0, I) (beta 1e-6). Positives are the clip's own pair and, as the released
  DEE (use_gt_matching_prob), every pair with the same emotion label (soft labels: p_i . p_j). The
  log-variance heads start small (sigma^2 summed over a pair = 0.5; ours): from torch's default init the
  variances swamp the CSD and the first steps pull every mean together, a collapse the toy runs in
  tests/test_preset_deeptalk.py never left;
- stage "vqvae", TH-VQVAE (Sec. "TH-VQVAE", Eq. 8-13, supp.): bottom encoder E_b (a strided conv, then one
  Transformer layer, d 128), top encoder E_t on E_b's output (same), top codebook 256 x 128, top decoder
  D_t (transposed conv + one Transformer layer) whose output is stacked with E_b's output (128 + 128) and
  quantised by the bottom codebook 256 x 256, bottom decoder D_b on [upsampled top code, bottom code]
  (384-d, transposed conv + one Transformer layer, feed-forward 512) -> rig. EMA codebooks (decay 0.99,
  blocks.VectorQuantizerEMA, first filled from encoder outputs), commitment beta 0.25 (Eq. 16);
- stage "generator", the talking-head generator (Sec. "DEEPTalk", supp.): the face feature extractor
  (wav2vec 2.0 content features, 768-d, concatenated with the style embedding = linear(DEE audio
  embedding) + identity embedding, then one Transformer layer, d 128, 8 heads), the top codebook
  predictor (6 layers) -> top logits -> top code -> the frozen D_t, concatenated with the face features ->
  the bottom codebook predictor (6 layers) -> bottom logits -> bottom code; both codes -> the frozen D_b ->
  rig. Indices are picked with straight-through Gumbel-softmax (hard one-hot, tau falling linearly
  `tau_start` -> `tau_end` over `tau_steps` steps, as the paper's first generator phase). Loss (Eq. 14):
  reconstruction + lip + emotion consistency (Eq. 15: 1 - cos(mu of the DEE audio encoder, mu of the
  DEE expression encoder on the generated motion)). DEE and the whole TH-VQVAE are frozen (held in eval
  mode, no gradients into them; the codebooks do not move).

Inference controls (config fields; the bridge passes none, so the defaults decide):
- `alpha` (uncertainty scale, Sec. "Face Feature Extractor"): the emotion embedding fed to the generator
  is mu + alpha * sigma * eps. Default 0: the mean, deterministic. eps is one fixed vector per
  `sample_seed` (a counter-based hash, no RNG state), so a stream shows one sampled emotion style and
  streaming equals offline for any alpha;
- `tau_top`, `tau_bottom` (codebook temperatures, Table 3): 0 (default) picks the argmax index; above 0
  samples softmax(logits / tau) by the Gumbel-max trick with noise hashed from (`sample_seed`, codebook,
  absolute code index, code): a fixed seed derived from nothing random, so streaming equals offline and a
  rerun gives the same face.

Mapping onto emorig's inputs (training/models/__init__.py has the contract):
- emotion control. The paper's only emotion input is the DEE audio embedding (it swaps embeddings between
  clips to change the emotion, Fig. 6). Our controls are mapped into that same space, so the generator
  never sees a second kind of conditioning: DEE learns one prototype per emotion, P_e (trained in stage
  "dee" with the same PCME++ matching loss against both encoders' embeddings and the clip's label: a
  third "modality" with zero variance; ours, not in the paper). The control target is the normalised
  weighted prototype P(w) = norm(sum_e w_e P_e), and the conditioning mean is
  c = norm((1 - k) mu_audio + k P(w)), k = intensity clipped to [0, 1]: intensity 0 is the speech's own
  emotion (as auto), 1 replaces it by the chosen emotion, values between blend the two along the DEE
  space (on neutral speech that is a weak-to-strong slider). Intensity then acts as "how much the label
  overrides the voice", which is what a DEE embedding can express (a weak emotion sits between neutral
  and the full prototype). auto=True uses the audio embedding alone (intensity has no effect there).
  The generator is trained with c built from the clip's label and a uniform random k, so every blend
  is a seen input; Eq. 15 then compares the generated face with that c (with the paper's c = mu_audio
  when k = 0);
- "emotion_logits" are the DEE matching logits -a CSD(audio embedding, P_e) + b per frame (what the
  released code uses to retrieve emotional speech, supp. "Emo-Vox");
- identity one-hot (supp.): a learned speaker embedding with `n_speakers` rows plus one 'unknown' row
  (speaker -1, and every inference); training sends a known speaker to it with probability
  `speaker_dropout` (as emotalk.py). Grown by the trainer through `n_speakers_seen`;
- the rig: the paper's FLAME expression + jaw and vertex losses are the rig's curves here: squared errors
  summed over curves, mean over frames (as deitalk.py). The lip-reading loss (a lip-reading network on
  renders) has no counterpart without a renderer: `w_lip` weighs a second squared error over the lip
  curves (blocks.lip_mask: jaw, mouth, tongue regions; on FLAME only the jaw);
- pretrained networks we cannot have, each trained from scratch in its stage: emotion2vec and wav2vec 2.0
  are MelFrontend causal conv stacks (768-d) over the training log-mel (frontend.py); the AffectNet
  expression MLP is trained with DEE (the released one is pretrained and frozen).

Changes for real-time streaming, each because the paper's choice needs the whole utterance:
- every audio-side Transformer layer is causal over a bounded window (ALiBi, relative positions only),
  the convs are causal; the DEE audio embedding of frame t pools (GPO) the head features of the last
  `dee_window` frames (default 200 = the paper's 2 s DEE clips), not the whole clip. Stage "dee" pools
  the whole training window (the same 2 s), as the paper. The expression encoder only scores training
  windows, so it stays bidirectional;
- the TH-VQVAE is causal with bounded context: E_b and E_t are block-local strided convs (kernel =
  stride) + causal windowed attention, so a code summarises only its own block and earlier ones; D_t and
  D_b are block-local transposed convs + causal windowed attention, so a frame is built from codes of
  blocks that started at or before it. The released code uses causal ALiBi there too;
- codes sit on a grid of absolute frames: bottom code J covers frames 4J .. 4J+3 (`bottom_stride`), top
  code K frames 16K .. 16K+15 (`bottom_stride * top_stride`); each is predicted at the output row where
  its first frame is emitted, i.e. from audio up to frame (first frame) + `lookahead`. Within a code the
  audio lookahead thus runs from `lookahead` down to `lookahead` - 3 frames (bottom: 100 -> 70 ms) and
  `lookahead` - 15 (top: the slow top code of a block is chosen up to 50 ms before its last frame is
  heard). A log-mel row reaches the face at the next row that reads a code (within `bottom_stride` rows);
- grid rates: the paper's FLAME runs at 25 fps with one stride-2 conv per level (bottom 12.5 Hz, top
  6.25 Hz). Ours runs at 100 fps: the top keeps 6.25 Hz (16 frames), the bottom runs at 25 Hz (4 frames)
  so that lips see at least 60 ms of future (stride 8 would leave 30 ms);
- the predictors are non-autoregressive (as the paper): causal windowed attention over their own grid
  (`top_window`, `bottom_window` codes per layer); the code predicted for a block is fed back only
  through D_t/D_b, never as the next query, so training runs exactly as inference;
- `stream` runs the same `_run` as `forward` with a cache of fixed-size tensors (each conv's last inputs,
  each attention layer's last window - 1 inputs with validity flags, the GPO window, the last codes), so
  streaming equals offline by construction; `lookahead` frames of future are bought by reading the output
  late (blocks.predict_aligned), as every preset does.
Reconstruction, lip and emotion terms are summed with weights `w_rec`, `w_lip`, `w_emo`; the released code
weighs its terms against vertex errors in metres, which do not carry over to curve units, so the weights
here are ours.

Ablation (Table 4, "DEEPTalk with VQ-VAE"; the paper gives no details): `hierarchical=False` drops the top
level and keeps one VQ-VAE at the bottom rate. E_t, the top codebook, the top predictor are never run
(their parameters stay, unused: the codebook keeps its EMA state, no top commitment, no top logits), and
wherever the top level fed the bottom one it feeds zeros: the D_t half of the bottom quantiser's input
and of the bottom predictor's input, and the upsampled top code in D_b's input. Zeros after D_t and the
upsampling rather than a zero top code fed through them, whose biases would give D_b a learned 16-frame
periodic signal: a trace of the hierarchy the ablation removes. The bottom codebook keeps its 2 d width
(half of it stays zero), so the parameter names and shapes are the same either way.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from retarget.spaces import get_space
from training.emotions import EMOTIONS

from .blocks import VectorQuantizerEMA, alibi_slopes, grown_speaker_table, lip_mask, predict_aligned, speaker_rows
from .frontend import MelFrontend


@dataclass
class DEEPTalkConfig:
    space: str = "arkit"  # any rig space; the paper's is FLAME expression (50) + jaw (3)
    n_mels: int = 80  # training/features.py front end
    lookahead: int = 10  # frames of future audio (100 ms)
    frontend_kernel: int = 3  # substitute front ends, not in the paper
    dropout: float = 0.1  # torch's TransformerEncoderLayer default, as released
    lr: float = 1e-4  # DEE and generator (supp.); the trainer uses one rate for all stages
    # -- DEE (supp. "DEE"; released DEE/checkpoint/arguments.json) --
    d_emotion2vec: int = 768  # emotion2vec base width; the substitute front end projects to it
    dee_frontend_dilations: tuple[int, ...] = (1, 2)
    d_dee: int = 128  # audio encoder width and embedding size (feature_dim)
    dee_heads: int = 8
    dee_audio_layers: int = 2
    dee_ff: int = 512  # feed-forward width (not given; 4 x d)
    dee_attn_window: int = 50  # frames one audio attention query sees (streaming; ours)
    dee_window: int = 200  # frames the per-frame GPO pools (streaming; the paper's 2 s clips)
    expr_mlp: tuple[int, ...] = (256, 512, 1024, 512, 128)  # the AffectNet expression MLP (supp.)
    d_expr: int = 512  # expression encoder width (parameter_feature_dim)
    dee_expr_layers: int = 6
    dee_expr_ff: int = 2048  # torch default, as released
    gpo_pe: int = 32  # GPO positional encoding and GRU width (VSE-infinity, as released)
    gpo_hidden: int = 32
    csd_scale: float = 5.0  # a, initial (PCME++ init_negative_scale)
    csd_shift: float = 5.0  # b, initial (PCME++ init_shift)
    vib_beta: float = 1e-6  # released vib_beta
    match_by_label: bool = True  # same-emotion pairs are positives (released use_gt_matching_prob)
    w_proto: float = 1.0  # emotion prototypes' matching loss (ours: the emotion control, see above)
    # -- TH-VQVAE (supp.; released config_TH-VQVAE.json) --
    bottom_stride: int = 4  # frames per bottom code (paper: 2 frames at 25 fps; see above)
    top_stride: int = 4  # bottom codes per top code (top code = 16 frames = the paper's 6.25 Hz)
    d_vq: int = 128  # encoder / D_t width = top code size; bottom codes are 2 d, D_b 3 d
    n_codes_top: int = 256
    n_codes_bottom: int = 256
    vq_heads: int = 8
    vq_ff: int = 256  # intermediate_size of E_b, E_t, D_t
    vq_decoder_ff: int = 512  # intermediate_size of D_b
    vq_window: int = 16  # bottom codes one E_b / D_t attention query sees (ours)
    vq_top_window: int = 8  # top codes one E_t attention query sees (ours)
    decoder_window: int = 32  # frames one D_b attention query sees (ours)
    ema_decay: float = 0.99
    beta: float = 0.25  # commitment (Eq. 16)
    w_vq_rec: float = 1.0
    w_commit: float = 1.0  # quantisation loss weight (released quant_loss_weight)
    hierarchical: bool = True  # False: one VQ-VAE (the bottom level only), the paper's "with VQ-VAE" ablation (Table 4)
    # -- generator (supp. "DEEPTalk"; released DEEPTalk/config.json) --
    d_content: int = 768  # wav2vec 2.0 base width; the substitute front end projects to it
    content_dilations: tuple[int, ...] = (1, 2)
    d_gen: int = 128  # face feature extractor and predictors
    gen_heads: int = 8
    gen_ff: int = 512  # (not given; 4 x d)
    face_window: int = 32  # frames one face-feature attention query sees (ours)
    predictor_layers: int = 6
    top_window: int = 4  # top codes one top-predictor attention query sees (ours)
    bottom_window: int = 8  # bottom codes one bottom-predictor attention query sees (ours)
    n_speakers: int = 32  # identity one-hot (released n_identities); one more row means 'unknown'
    speaker_dropout: float = 0.1  # training: known speaker -> unknown row (ours, as emotalk.py)
    tau_start: float = 2.0  # Gumbel-softmax temperature schedule (supp., released tau_schedule)
    tau_end: float = 0.1
    tau_steps: int = 2000  # generator steps over which tau falls (the trainer's default steps per stage)
    w_rec: float = 1.0
    w_lip: float = 1.0  # curve-space stand-in for the lip-reading loss
    w_emo: float = 0.1  # emotion consistency (Eq. 15)
    # -- inference controls (Sec. "Face Feature Extractor", "Codebook Predictor", Table 3) --
    alpha: float = 0.0  # uncertainty scale: 0 = the mean embedding
    tau_top: float = 0.0  # top codebook temperature: 0 = argmax
    tau_bottom: float = 0.0  # bottom codebook temperature: 0 = argmax
    sample_seed: int = 0  # seeds the hashed noise of alpha and the temperatures

    def __post_init__(self):  # JSON gives lists; keep tuples so configs compare equal
        for name in ("dee_frontend_dilations", "expr_mlp", "content_dilations"):
            setattr(self, name, tuple(getattr(self, name)))
        if self.bottom_stride < 1 or self.top_stride < 1:
            raise ValueError("bottom_stride and top_stride must be at least 1")
        for name in ("alpha", "tau_top", "tau_bottom"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")

    @property
    def n_curves(self) -> int:
        return len(get_space(self.space))

    @property
    def top_frames(self) -> int:
        """Frames per top code."""
        return self.bottom_stride * self.top_stride

    @property
    def dee_context(self) -> int:
        """Past frames the per-frame DEE audio embedding depends on."""
        front = (self.frontend_kernel - 1) * sum(self.dee_frontend_dilations)
        return front + (self.dee_audio_layers + 1) * (self.dee_attn_window - 1) + self.dee_window - 1

    @property
    def left_context(self) -> int:
        """Past frames (of log-mel) one output row depends on, along the longest path: D_b's window ->
        the bottom code of its oldest frame -> the bottom predictor's layers -> D_t's window -> the top
        code of its oldest bottom code -> the top predictor's layers -> the squash rows -> the face
        feature layer -> its content or DEE inputs."""
        sb, s = self.bottom_stride, self.top_frames
        content = (self.frontend_kernel - 1) * sum(self.content_dilations)
        face = self.face_window - 1 + max(content, self.dee_context)
        if not self.hierarchical:  # the one-VQ-VAE ablation: no path through a top code
            bottom_code = sb * self.predictor_layers * (self.bottom_window - 1) + sb - 1
            return self.decoder_window - 1 + sb - 1 + bottom_code + face
        top_code = s * self.predictor_layers * (self.top_window - 1) + s - 1
        bottom_code = sb * self.predictor_layers * (self.bottom_window - 1) + max(
            sb - 1, sb * (self.vq_window - 1) + sb * (self.top_stride - 1) + top_code
        )
        row = self.decoder_window - 1 + max(sb - 1 + bottom_code, s - 1 + top_code)
        return row + face


# -- attention with a cache ------------------------------------------------------------------------


class Layer(nn.Module):
    """One post-norm Transformer encoder layer (torch's TransformerEncoderLayer, GELU, as released)
    with an ALiBi bias: causal over `window` frames (query t sees t - window + 1 .. t), or full and
    symmetric (causal=False, window None). Keys can be marked invalid (rows before a stream began, or
    codes of blocks before frame 0); a query always sees itself, so no row is left without keys."""

    chunk = 256  # queries per attention call: bounded memory on long files

    def __init__(self, d: int, heads: int, ff: int, window: int | None, causal: bool = True, dropout: float = 0.1):
        super().__init__()
        assert d % heads == 0, "width must be a multiple of heads"
        assert window is not None or not causal, "a causal layer needs a window"
        self.heads, self.window, self.causal, self.dropout = heads, window, causal, dropout
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)
        self.ff = nn.Sequential(nn.Linear(d, ff), nn.GELU(), nn.Dropout(dropout), nn.Linear(ff, d))
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.drop = nn.Dropout(dropout)
        self.register_buffer("slopes", alibi_slopes(heads), persistent=False)

    def forward(self, x: torch.Tensor, x_all: torch.Tensor | None = None, valid: torch.Tensor | None = None):
        """x [B, n, d]: the last n rows of x_all [B, t, d] (None: x itself); valid [B, t] bool (None: all)."""
        b, n, d = x.shape
        x_all = x if x_all is None else x_all
        t, h = x_all.shape[1], self.heads
        w, bias = self.qkv.weight, self.qkv.bias
        q = F.linear(x, w[:d], bias[:d]).view(b, n, h, d // h).transpose(1, 2)
        k, v = F.linear(x_all, w[d:], bias[d:]).view(b, t, 2, h, d // h).permute(2, 0, 3, 1, 4)
        first = t - n  # index of x's first row in x_all
        parts = []
        for s in range(0, n, self.chunk):
            e = min(n, s + self.chunk)
            k0 = max(0, first + s - self.window + 1) if self.causal else 0
            k1 = first + e if self.causal else t
            dist = torch.arange(first + s, first + e, device=x.device)[:, None] - torch.arange(k0, k1, device=x.device)
            if self.causal:
                allowed, penalty = (dist >= 0) & (dist < self.window), dist.clamp(min=0)
            else:
                allowed, penalty = torch.ones_like(dist, dtype=torch.bool), dist.abs()
                if self.window is not None:
                    allowed = penalty < self.window
            allowed = allowed[None]
            if valid is not None:
                allowed = allowed & (valid[:, None, k0:k1] | (dist == 0)[None])
            mask = (-penalty.to(q.dtype)[None] * self.slopes.to(q.dtype)[:, None, None])[None]  # [1, h, nq, nk]
            mask = mask.masked_fill(~allowed[:, None], float("-inf"))
            parts.append(
                F.scaled_dot_product_attention(
                    q[:, :, s:e],
                    k[:, :, k0:k1],
                    v[:, :, k0:k1],
                    attn_mask=mask,
                    dropout_p=self.dropout if self.training else 0.0,
                )
            )
        y = torch.cat(parts, 2).transpose(1, 2).reshape(b, n, d)
        x = self.norm1(x + self.drop(self.out(y)))
        return self.norm2(x + self.drop(self.ff(x)))


def run_layers(layers, x: torch.Tensor, valid: torch.Tensor | None, cache: dict | None, name: str) -> torch.Tensor:
    """Causal layers over new rows x [B, n, d] (valid [B, n] bool, None: all). `cache` (None: a pass from
    nothing) keeps each layer's last window - 1 inputs and their validity under name{i}, name{i}_v."""
    if valid is None:
        valid = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
    for i, layer in enumerate(layers):
        if cache is None:
            x = layer(x, x, valid)
            continue
        keep, key = layer.window - 1, f"{name}{i}"
        hist = cache.get(key)
        if hist is None:
            hist = x.new_zeros(x.shape[0], keep, x.shape[2])
            cache[key + "_v"] = torch.zeros(x.shape[0], keep, dtype=torch.bool, device=x.device)
        x_all, v_all = torch.cat([hist, x], 1), torch.cat([cache[key + "_v"], valid], 1)
        cache[key], cache[key + "_v"] = x_all[:, x_all.shape[1] - keep :], v_all[:, v_all.shape[1] - keep :]
        x = layer(x, x_all, v_all)
    return x


# -- generalised pooling ---------------------------------------------------------------------------


def sinusoid(n: int, d: int, device=None, dtype=torch.float32) -> torch.Tensor:
    pos = torch.arange(n, device=device, dtype=dtype)[:, None]
    div = torch.exp(torch.arange(0, d, 2, device=device, dtype=dtype) * (-math.log(10000.0) / d))
    pe = torch.zeros(n, d, device=device, dtype=dtype)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div)[:, : d // 2]
    return pe


class GPO(nn.Module):
    """Generalised pooling operator (Chen et al. 2021, VSE-infinity; the released gpo.py): each feature
    dimension's values sorted in descending order and summed with weights theta_k that depend only on the
    rank k and the number of items n, from a bidirectional GRU over sinusoidal encodings of 0..n-1, a
    linear score and softmax(score / 0.1)."""

    def __init__(self, d_pe: int = 32, d_hidden: int = 32):
        super().__init__()
        self.d_pe, self.d_hidden = d_pe, d_hidden
        self.gru = nn.GRU(d_pe, d_hidden, 1, batch_first=True, bidirectional=True)
        self.linear = nn.Linear(d_hidden, 1, bias=False)
        self._memo: dict = {}

    def _scores(self, out: torch.Tensor, lengths: torch.Tensor, width: int) -> torch.Tensor:
        """GRU outputs [N, width, 2h] (forward, backward) -> theta [N, width], zero past each length."""
        out = (out[..., : self.d_hidden] + out[..., self.d_hidden :]) / 2
        score = self.linear(out).squeeze(-1)
        inside = torch.arange(width, device=out.device)[None] < lengths.to(out.device)[:, None]
        return torch.softmax(score.masked_fill(~inside, float("-inf")) / 0.1, -1)

    def _direction(self, x: torch.Tensor, suffix: str) -> torch.Tensor:
        """One direction of self.gru run by hand over x [N, L, d_pe] -> [N, L, h] (torch's GRU equations)."""
        g = self.gru
        w_ih, w_hh = getattr(g, "weight_ih_l0" + suffix), getattr(g, "weight_hh_l0" + suffix)
        b_ih, b_hh = getattr(g, "bias_ih_l0" + suffix), getattr(g, "bias_hh_l0" + suffix)
        gi = F.linear(x, w_ih, b_ih)  # [N, L, 3h]: reset, update, new
        h = x.new_zeros(x.shape[0], self.d_hidden)
        out = []
        for i in range(x.shape[1]):
            gh = F.linear(h, w_hh, b_hh)
            r_i, z_i, n_i = gi[:, i].chunk(3, -1)
            r_h, z_h, n_h = gh.chunk(3, -1)
            r, z = torch.sigmoid(r_i + r_h), torch.sigmoid(z_i + z_h)
            h = (1 - z) * torch.tanh(n_i + r * n_h) + z * h
            out.append(h)
        return torch.stack(out, 1)

    def table(self, width: int, device) -> torch.Tensor:
        """theta for every count 1..width, [width (count - 1), width (rank)], without gradients; memoised
        until the parameters change. The forward direction is shared by all counts; the backward one runs
        once per count as a batch over reversed prefixes (trailing zeros come after a sequence's last
        step, so they change nothing it outputs)."""
        dtype = self.linear.weight.dtype
        key = (width, str(device), dtype, tuple((p.data_ptr(), p._version) for p in self.parameters()))
        if key in self._memo:
            return self._memo[key]
        with torch.no_grad():
            pe = sinusoid(width, self.d_pe, device, dtype)
            fwd = self._direction(pe[None], "")[0]  # [W, h]
            n = torch.arange(1, width + 1, device=device)
            src = n[:, None] - 1 - torch.arange(width, device=device)[None]  # reversed prefix of length n
            rev = pe[src.clamp(min=0)] * (src >= 0)[..., None]
            bwd = self._direction(rev, "_reverse")  # step i of row n = position n - 1 - i
            pos = (n[:, None] - 1 - torch.arange(width, device=device)[None]).clamp(min=0)
            bwd = bwd.gather(1, pos[..., None].expand(-1, -1, self.d_hidden))
            theta = self._scores(torch.cat([fwd[None].expand(width, -1, -1), bwd], -1), n, width)
        self._memo.clear()  # one table per parameter state
        self._memo[key] = theta
        return theta

    def weights(self, counts: list[int], width: int, device) -> torch.Tensor:
        """[len(counts), width]: theta for n = counts[i] items (zero past n). With gradients wanted
        (stage "dee"), torch's GRU on the few counts asked; otherwise rows of the memoised table."""
        if not torch.is_grad_enabled():
            return self.table(width, device)[torch.tensor(counts, device=device) - 1]
        lengths = torch.tensor(counts)
        pe = sinusoid(width, self.d_pe, device, self.linear.weight.dtype)[None].expand(len(counts), -1, -1).contiguous()
        packed = pack_padded_sequence(pe, lengths, batch_first=True, enforce_sorted=False)
        out, _ = pad_packed_sequence(self.gru(packed)[0], batch_first=True, total_length=width)
        return self._scores(out, lengths, width)

    def forward(self, x: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """x [N, W, d], valid [N, W] bool (None: all; every row needs one) -> [N, d]."""
        n, width, _ = x.shape
        if valid is None:
            valid = torch.ones(n, width, dtype=torch.bool, device=x.device)
        counts = valid.sum(1).clamp(min=1)
        uniq, inv = counts.unique(return_inverse=True)
        theta = self.weights(uniq.tolist(), width, x.device)[inv]  # [N, W]
        ranked = x.masked_fill(~valid[..., None], float("-inf")).sort(1, descending=True).values
        ranked = ranked.masked_fill(~(theta > 0)[..., None], 0.0)  # the invalid ranks (theta = 0) exactly
        return (ranked * theta[..., None]).sum(1)


def sliding_gpo(gpo: GPO, x_all: torch.Tensor, valid_all: torch.Tensor, n: int, window: int) -> torch.Tensor:
    """GPO over the last `window` rows for each of the last n rows of x_all [B, n + window - 1, d]."""
    b, _, d = x_all.shape
    step = max(1, (1 << 24) // max(1, b * window * d))  # rows per pass: bounded memory on long files
    out = []
    for s in range(0, n, step):
        e = min(n, s + step)
        xs = x_all[:, s : e + window - 1].unfold(1, window, 1).permute(0, 1, 3, 2)  # [B, m, W, d]
        vs = valid_all[:, s : e + window - 1].unfold(1, window, 1)  # [B, m, W]
        out.append(gpo(xs.reshape(-1, window, d), vs.reshape(-1, window)).view(b, e - s, d))
    return torch.cat(out, 1)


# -- DEE -------------------------------------------------------------------------------------------


def csd(mu1, logvar1, mu2, logvar2) -> torch.Tensor:
    """Closed-form sampled distance (PCME++, Eq. 7): |mu1 - mu2|^2 + |sigma1^2 + sigma2^2|_1, [..., N, M]."""
    return (mu1[..., :, None, :] - mu2[..., None, :, :]).pow(2).sum(-1) + (
        logvar1.exp()[..., :, None, :] + logvar2.exp()[..., None, :, :]
    ).sum(-1)


def vib_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, I)), mean over elements (PCME++'s VIB, as released)."""
    return -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).mean()


class ProbHeads(nn.Module):
    """PCME++ heads: mean and log-variance, each one Transformer layer + linear, pooled by its own GPO."""

    def __init__(self, d: int, d_out: int, heads: int, ff: int, window: int | None, causal: bool, dropout: float, cfg):
        super().__init__()
        self.mean_layer = Layer(d, heads, ff, window, causal, dropout)
        self.var_layer = Layer(d, heads, ff, window, causal, dropout)
        self.mean_map, self.var_map = nn.Linear(d, d_out), nn.Linear(d, d_out)
        self.mean_pool, self.var_pool = GPO(cfg.gpo_pe, cfg.gpo_hidden), GPO(cfg.gpo_pe, cfg.gpo_hidden)
        # Start with sigma^2 summed over both sides of a pair = 0.5 (below the largest distance of two unit
        # means, 4): with torch's default init the variances (sum 2 d at d = 128: 256) swamp the CSD and the
        # first steps pull every mean together before the variances have shrunk (ours; not in the paper).
        with torch.no_grad():
            self.var_map.weight.mul_(0.1)
            self.var_map.bias.fill_(math.log(0.25 / d_out))


class DEEAudio(nn.Module):
    """Audio encoder: emotion2vec substitute -> linear -> causal layers -> ProbHeads."""

    def __init__(self, cfg: DEEPTalkConfig):
        super().__init__()
        d = cfg.d_dee
        self.front = MelFrontend(cfg.n_mels, cfg.d_emotion2vec, cfg.frontend_kernel, cfg.dee_frontend_dilations)
        self.proj = nn.Linear(cfg.d_emotion2vec, d)
        self.layers = nn.ModuleList(
            Layer(d, cfg.dee_heads, cfg.dee_ff, cfg.dee_attn_window, True, cfg.dropout)
            for _ in range(cfg.dee_audio_layers)
        )
        self.heads = ProbHeads(d, d, cfg.dee_heads, cfg.dee_ff, cfg.dee_attn_window, True, cfg.dropout, cfg)

    def rows(self, mel: torch.Tensor, cache: dict):
        """Per-frame (mean, log-variance) head features before pooling, [B, n, d] each (causal)."""
        x = self.proj(self.front.step(mel, cache, "dee_front"))
        x = run_layers(self.layers, x, None, cache, "dee")
        hd = self.heads
        m = hd.mean_map(run_layers([hd.mean_layer], x, None, cache, "dee_mean"))
        v = hd.var_map(run_layers([hd.var_layer], x, None, cache, "dee_var"))
        return m, v

    def embed(self, mel: torch.Tensor):
        """One embedding per clip: GPO over all its frames (stage "dee", Eq. 5) -> (mu [B, d], logvar [B, d])."""
        m, v = self.rows(mel, {})
        return F.normalize(self.heads.mean_pool(m), dim=-1), self.heads.var_pool(v)

    def sliding(self, mel: torch.Tensor, cache: dict, window: int):
        """One embedding per frame: GPO over the last `window` frames (streaming) -> [B, n, d] each."""
        m, v = self.rows(mel, cache)
        b, n, d = m.shape
        if "gpo_m" not in cache:
            cache["gpo_m"] = m.new_zeros(b, window - 1, d)
            cache["gpo_lv"] = m.new_zeros(b, window - 1, d)
            cache["gpo_ok"] = torch.zeros(b, window - 1, dtype=torch.bool, device=m.device)
        m_all, v_all = torch.cat([cache["gpo_m"], m], 1), torch.cat([cache["gpo_lv"], v], 1)
        ok = torch.cat([cache["gpo_ok"], torch.ones(b, n, dtype=torch.bool, device=m.device)], 1)
        keep = window - 1
        cache["gpo_m"], cache["gpo_lv"], cache["gpo_ok"] = (a[:, a.shape[1] - keep :] for a in (m_all, v_all, ok))
        mu = F.normalize(sliding_gpo(self.heads.mean_pool, m_all, ok, n, window), dim=-1)
        return mu, sliding_gpo(self.heads.var_pool, v_all, ok, n, window)


class DEEExpression(nn.Module):
    """Expression encoder: per-frame MLP (the AffectNet classifier's layers up to its 128-d features,
    LeakyReLU) -> linear to d_expr -> bidirectional layers -> ProbHeads. Scores training windows only."""

    def __init__(self, cfg: DEEPTalkConfig):
        super().__init__()
        sizes = [cfg.n_curves, *cfg.expr_mlp]
        mlp = []
        for a, b in zip(sizes, sizes[1:]):
            mlp += [nn.Linear(a, b), nn.LeakyReLU(0.2)]
        self.mlp = nn.Sequential(*mlp)
        self.proj = nn.Linear(sizes[-1], cfg.d_expr)
        self.layers = nn.ModuleList(
            Layer(cfg.d_expr, cfg.dee_heads, cfg.dee_expr_ff, None, False, cfg.dropout)
            for _ in range(cfg.dee_expr_layers)
        )
        self.heads = ProbHeads(cfg.d_expr, cfg.d_dee, cfg.dee_heads, cfg.dee_expr_ff, None, False, cfg.dropout, cfg)

    def embed(self, rig: torch.Tensor):
        """rig [B, T, K] -> (mu [B, d_dee], logvar [B, d_dee])."""
        x = self.proj(self.mlp(rig))
        for layer in self.layers:
            x = layer(x)
        hd = self.heads
        mu = F.normalize(hd.mean_pool(hd.mean_map(hd.mean_layer(x))), dim=-1)
        return mu, hd.var_pool(hd.var_map(hd.var_layer(x)))


class DEE(nn.Module):
    """Dynamic Emotion Embedding: both encoders, the CSD matching scale a and shift b, and (ours) one
    prototype per emotion in the embedding space."""

    def __init__(self, cfg: DEEPTalkConfig):
        super().__init__()
        self.audio = DEEAudio(cfg)
        self.expr = DEEExpression(cfg)
        self.scale = nn.Parameter(torch.tensor(float(cfg.csd_scale)))  # a
        self.shift = nn.Parameter(torch.tensor(float(cfg.csd_shift)))  # b
        self.prototypes = nn.Parameter(F.normalize(torch.randn(len(EMOTIONS), cfg.d_dee), dim=-1))

    def match_logits(self, mu1, logvar1, mu2, logvar2) -> torch.Tensor:
        return -self.scale * csd(mu1, logvar1, mu2, logvar2) + self.shift

    def emotion_logits(self, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """[..., d] embeddings -> [..., 8] matching logits against the prototypes (zero variance)."""
        p = F.normalize(self.prototypes, dim=-1)
        dist = (mu[..., None, :] - p).pow(2).sum(-1) + logvar.exp().sum(-1, keepdim=True)
        return -self.scale * dist + self.shift

    def target(self, emotion: torch.Tensor) -> torch.Tensor:
        """Emotion weights [B, 8] -> the control target P(w) = norm(sum_e w_e P_e), [B, d]."""
        return F.normalize(emotion @ F.normalize(self.prototypes, dim=-1), dim=-1)

    def blend(self, mu: torch.Tensor, emotion: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """c = norm((1 - k) mu + k P(w)); mu [B, ..., d], k [B] in [0, 1]."""
        target = self.target(emotion)
        shape = (len(k),) + (1,) * (mu.dim() - 2) + (1,)
        target = target.view(len(k), *((1,) * (mu.dim() - 2)), -1)
        k = k.view(shape).to(mu.dtype)
        return F.normalize((1 - k) * mu + k * target, dim=-1)


# -- TH-VQVAE ------------------------------------------------------------------------------------


class BlockDown(nn.Module):
    """A strided conv whose kernel equals its stride: the rows of each block -> one step."""

    def __init__(self, d_in: int, d_out: int, size: int):
        super().__init__()
        self.size = size
        self.linear = nn.Linear(size * d_in, d_out)

    def forward(self, rows: torch.Tensor, ends: list[int]) -> torch.Tensor:
        """rows [B, t, d_in]; ends: the last row index of each block (>= size - 1) -> [B, n, d_out]."""
        idx = torch.tensor(ends, device=rows.device)[:, None] - torch.arange(self.size - 1, -1, -1, device=rows.device)
        return self.linear(rows[:, idx].flatten(2))


class BlockUp(nn.Module):
    """A transposed conv whose kernel equals its stride: one step -> `size` steps, each from its own
    weights; nothing crosses a block boundary."""

    def __init__(self, d_in: int, d_out: int, size: int):
        super().__init__()
        self.size, self.d_out = size, d_out
        self.linear = nn.Linear(d_in, size * d_out)

    def forward(self, x: torch.Tensor, token: list[int], sub: list[int]) -> torch.Tensor:
        """x [B, n, d_in]; output step i is position sub[i] of block token[i] -> [B, len(token), d_out]."""
        y = self.linear(x).view(x.shape[0], x.shape[1], self.size, self.d_out)
        dev = x.device
        return y[:, torch.tensor(token, dtype=torch.long, device=dev), torch.tensor(sub, dtype=torch.long, device=dev)]


class THVQVAE(nn.Module):
    """Temporally hierarchical VQ-VAE (Eq. 8-13), causal with bounded context (see the module doc)."""

    def __init__(self, cfg: DEEPTalkConfig):
        super().__init__()
        self.cfg = cfg
        d, k, sb, st, h = cfg.d_vq, cfg.n_curves, cfg.bottom_stride, cfg.top_stride, cfg.vq_heads
        self.enc_b_down = BlockDown(k, d, sb)
        self.enc_b = Layer(d, h, cfg.vq_ff, cfg.vq_window, True, cfg.dropout)
        self.enc_t_down = BlockDown(d, d, st)
        self.enc_t = Layer(d, h, cfg.vq_ff, cfg.vq_top_window, True, cfg.dropout)
        self.q_t = VectorQuantizerEMA(cfg.n_codes_top, d, cfg.ema_decay, cfg.beta)
        self.dt_up = BlockUp(d, d, st)  # D_t: top code -> bottom steps
        self.dt = Layer(d, h, cfg.vq_ff, cfg.vq_window, True, cfg.dropout)
        self.q_b = VectorQuantizerEMA(cfg.n_codes_bottom, 2 * d, cfg.ema_decay, cfg.beta)
        self.db_up_t = BlockUp(d, d, st)  # "upsample e_t" to bottom steps (Eq. 13)
        self.db_up = BlockUp(3 * d, 3 * d, sb)  # D_b: bottom steps -> frames
        self.db = Layer(3 * d, h, cfg.vq_decoder_ff, cfg.decoder_window, True, cfg.dropout)
        self.db_head = nn.Linear(3 * d, k)
        self.register_buffer("filled", torch.zeros(2))  # codebooks seeded from encoder outputs yet?

    def _fill(self, level: int, q: VectorQuantizerEMA, z: torch.Tensor) -> None:
        """Seed a codebook with encoder outputs on the first training batch (tiled with noise if too few)."""
        flat = z.detach().reshape(-1, q.dim)
        if len(flat) < q.n_codes:
            flat = flat.repeat(math.ceil(q.n_codes / len(flat)), 1)
            flat = flat + torch.randn_like(flat) * 0.01 / math.sqrt(q.dim)
        pick = flat[torch.randperm(len(flat), device=flat.device)[: q.n_codes]]
        q.codebook.copy_(pick)
        q.embed_sum.copy_(pick)
        q.cluster_size.fill_(1.0)
        self.filled[level] = 1.0

    def encode(self, x: torch.Tensor):
        """x [B, T, K], T a multiple of bottom_stride * top_stride -> (e_t [B, T/16, d], e_b [B, T/4, 2d],
        commitment loss, (top indices, bottom indices)). Codes of block j see frames up to its end.
        Without the top level (hierarchical=False, the ablation): e_t zeros, top indices None."""
        sb, st = self.cfg.bottom_stride, self.cfg.top_stride
        nb = x.shape[1] // sb
        h_b = self.enc_b(F.leaky_relu(self.enc_b_down(x, [sb * i + sb - 1 for i in range(nb)]), 0.2))
        if self.cfg.hierarchical:
            h_t = self.enc_t(F.leaky_relu(self.enc_t_down(h_b, [st * i + st - 1 for i in range(nb // st)]), 0.2))
            if self.training and not bool(self.filled[0]):
                with torch.no_grad():
                    self._fill(0, self.q_t, h_t)
            e_t, i_t, c_t = self.q_t(h_t)
        else:  # the one-VQ-VAE ablation: E_t and the top codebook are not run (no commitment, no EMA update)
            e_t, i_t, c_t = h_b.new_zeros(h_b.shape[0], nb // st, self.cfg.d_vq), None, h_b.new_zeros(())
        top = torch.cat([e_t.new_zeros(e_t.shape[0], 1, e_t.shape[2]), e_t], 1)
        d_t = self.decode_top(top, [i // st + 1 for i in range(nb)], [i % st for i in range(nb)], None, None)
        z_b = torch.cat([d_t, h_b], -1)  # Eq. 12: stack along features
        if self.training and not bool(self.filled[1]):
            with torch.no_grad():
                self._fill(1, self.q_b, z_b)
        e_b, i_b, c_b = self.q_b(z_b)
        return e_t, e_b, c_t + c_b, (i_t, i_b)

    def decode(self, e_t: torch.Tensor, e_b: torch.Tensor) -> torch.Tensor:
        """Codes of a sequence from frame 0 -> rig [B, T, K] (Eq. 13)."""
        sb, st = self.cfg.bottom_stride, self.cfg.top_stride
        t = e_b.shape[1] * sb
        top = torch.cat([e_t.new_zeros(e_t.shape[0], 1, e_t.shape[2]), e_t], 1)
        bottom = torch.cat([e_b.new_zeros(e_b.shape[0], 1, e_b.shape[2]), e_b], 1)
        rows = range(t)
        return self.decode_rows(
            top,
            bottom,
            [r // (sb * st) + 1 for r in rows],
            [(r // sb) % st for r in rows],
            [r // sb + 1 for r in rows],
            [r % sb for r in rows],
            None,
            None,
        )

    def decode_top(self, top, top_index, sub, valid, cache) -> torch.Tensor:
        """D_t for bottom steps: top [B, 1 + n_t, d] (row 0: the previous call's last top code), bottom
        step i from top code top_index[i] at position sub[i] of its block -> [B, n_b, d]."""
        if not self.cfg.hierarchical:  # the one-VQ-VAE ablation: no top level, so nothing from D_t
            return top.new_zeros(top.shape[0], len(top_index), self.cfg.d_vq)
        return run_layers([self.dt], self.dt_up(top, top_index, sub), valid, cache, "m_dt")

    def decode_rows(self, top, bottom, top_index, top_sub, bottom_index, bottom_sub, valid, cache) -> torch.Tensor:
        """D_b for frames: frame i uses top code top_index[i] (at bottom position top_sub[i]) and bottom code
        bottom_index[i] (at frame position bottom_sub[i]) -> rig [B, n, K]."""
        if self.cfg.hierarchical:
            up_t = self.db_up_t(top, top_index, top_sub)
        else:  # the one-VQ-VAE ablation: D_b sees zeros in place of the top code
            up_t = top.new_zeros(top.shape[0], len(top_index), self.cfg.d_vq)
        x = torch.cat([up_t, bottom[:, torch.tensor(bottom_index, dtype=torch.long, device=bottom.device)]], -1)
        x = self.db_up(x, list(range(x.shape[1])), bottom_sub)
        return self.db_head(run_layers([self.db], x, valid, cache, "m_db"))


# -- generator -------------------------------------------------------------------------------------


class Generator(nn.Module):
    """Face feature extractor + top and bottom codebook predictors (Sec. "DEEPTalk", Fig. 2c)."""

    def __init__(self, cfg: DEEPTalkConfig):
        super().__init__()
        d, h = cfg.d_gen, cfg.gen_heads
        self.content = MelFrontend(cfg.n_mels, cfg.d_content, cfg.frontend_kernel, cfg.content_dilations)
        self.style_z = nn.Linear(cfg.d_dee, d)  # DEE embedding -> style (with the identity, supp.)
        self.style_id = nn.Embedding(cfg.n_speakers + 1, d)  # row n_speakers = unknown
        self.face_in = nn.Linear(cfg.d_content + d, d)
        self.face = Layer(d, h, cfg.gen_ff, cfg.face_window, True, cfg.dropout)
        self.top_down = BlockDown(d, d, cfg.top_frames)
        self.top_layers = nn.ModuleList(
            Layer(d, h, cfg.gen_ff, cfg.top_window, True, cfg.dropout) for _ in range(cfg.predictor_layers)
        )
        self.top_head = nn.Linear(d, cfg.n_codes_top)
        self.bottom_down = BlockDown(d, d, cfg.bottom_stride)
        self.bottom_in = nn.Linear(d + cfg.d_vq, d)  # [face features, D_t(top code)]
        self.bottom_layers = nn.ModuleList(
            Layer(d, h, cfg.gen_ff, cfg.bottom_window, True, cfg.dropout) for _ in range(cfg.predictor_layers)
        )
        self.bottom_head = nn.Linear(d, cfg.n_codes_bottom)


# -- hashed noise (a fixed seed, no RNG state: streaming equals offline) ----------------------------

_M32 = 0xFFFFFFFF


def _mix(h: torch.Tensor) -> torch.Tensor:
    """A 32-bit avalanche on int64 (products stay below 2^63)."""
    h = ((h ^ (h >> 16)) * 0x7FEB352D) & _M32
    h = ((h ^ (h >> 15)) * 0x346CA68B) & _M32
    return h ^ (h >> 16)


def hashed_uniform(*fields: torch.Tensor | int) -> torch.Tensor:
    """Uniform (0, 1) float64 from integer fields (broadcast together), the same on every call."""
    tensors = [f for f in fields if isinstance(f, torch.Tensor)]
    device = tensors[0].device if tensors else None
    h = torch.zeros((), dtype=torch.long, device=device)
    for f in fields:
        f = torch.as_tensor(f, dtype=torch.long, device=device)
        h = _mix((h * 0x2545F49 + (f & _M32)) & _M32)
    return (h.double() + 0.5) / 2.0**32


def hashed_gumbel(seed: int, level: int, block: torch.Tensor, n_codes: int) -> torch.Tensor:
    """Gumbel noise [*block.shape, n_codes] for code indices `block` (absolute) of codebook `level`."""
    codes = torch.arange(n_codes, device=block.device)
    u = hashed_uniform(seed, level, block[..., None], codes)
    return -torch.log(-torch.log(u))


def hashed_normal(seed: int, dim: int, device=None) -> torch.Tensor:
    """One standard normal vector [dim] per seed (Box-Muller on hashed uniforms)."""
    i = torch.arange(dim, device=device)
    u1, u2 = hashed_uniform(seed, 2, i, 0), hashed_uniform(seed, 2, i, 1)
    return (torch.sqrt(-2 * torch.log(u1)) * torch.cos(2 * math.pi * u2)).float()


@contextmanager
def frozen(*modules: nn.Module):
    """Run modules as a later stage uses them: eval mode (no dropout, no EMA update) and no gradients
    into their parameters (gradients still flow through them); restored afterwards."""
    saved = [(m, m.training, [(p, p.requires_grad) for p in m.parameters()]) for m in modules]
    for m in modules:
        m.eval()
        m.requires_grad_(False)
    try:
        yield
    finally:
        for m, mode, params in saved:
            m.train(mode)
            for p, flag in params:
                p.requires_grad_(flag)


# -- the network -------------------------------------------------------------------------------------


class DEEPTalk(nn.Module):
    stages = ("dee", "vqvae", "generator")

    def __init__(self, cfg: DEEPTalkConfig):
        super().__init__()
        self.cfg = cfg
        self.dee = DEE(cfg)
        self.vq = THVQVAE(cfg)
        self.gen = Generator(cfg)
        self.register_buffer("gen_steps", torch.zeros((), dtype=torch.long))  # drives the tau schedule
        self.register_buffer("lip", lip_mask(cfg.space), persistent=False)

    # -- personal style ----------------------------------------------------------------------------
    @property
    def n_speakers_seen(self) -> int:
        return self.cfg.n_speakers

    @n_speakers_seen.setter
    def n_speakers_seen(self, n: int) -> None:
        """The trainer's hook: grow the identity table to n speakers (known rows and 'unknown' kept)."""
        if n <= self.cfg.n_speakers:
            return
        self.gen.style_id = grown_speaker_table(self.gen.style_id, self.cfg.n_speakers, n)
        self.cfg.n_speakers = n

    def speaker_index(self, speaker: torch.Tensor | None, batch: int, device) -> torch.Tensor:
        """Batch speakers (-1 unknown, None: all unknown) -> rows of the identity table."""
        return speaker_rows(speaker, self.cfg.n_speakers, batch, device)

    # -- pieces --------------------------------------------------------------------------------------
    def condition(self, mu, logvar, emotion, intensity, auto: bool = False) -> torch.Tensor:
        """The generator's emotion input per frame: mu [B, n, d] (auto) or its blend with the controls'
        prototype target, plus alpha * sigma * eps (eps fixed by sample_seed)."""
        c = mu if auto else self.dee.blend(mu, emotion.to(mu.dtype), intensity.to(mu.dtype).clamp(0, 1))
        if self.cfg.alpha > 0:
            eps = hashed_normal(self.cfg.sample_seed, mu.shape[-1], mu.device).to(mu.dtype)
            c = c + self.cfg.alpha * torch.exp(0.5 * logvar) * eps
        return c

    def tau(self) -> float:
        """The Gumbel-softmax temperature at the current generator step (linear tau_start -> tau_end)."""
        cfg = self.cfg
        frac = min(1.0, float(self.gen_steps) / max(1, cfg.tau_steps))
        return cfg.tau_start + (cfg.tau_end - cfg.tau_start) * frac

    def _select(self, logits, codebook, block, level: int, gumbel_tau: float | None) -> torch.Tensor:
        """Logits -> code vectors: straight-through Gumbel-softmax in training; at inference argmax, or
        with the codebook's temperature a Gumbel-max sample whose noise is hashed from the code's index."""
        if gumbel_tau is not None:
            return F.gumbel_softmax(logits, tau=gumbel_tau, hard=True) @ codebook
        temp = self.cfg.tau_top if level == 0 else self.cfg.tau_bottom
        if temp > 0:
            logits = logits / temp + hashed_gumbel(self.cfg.sample_seed, level, block, logits.shape[-1]).to(
                logits.dtype
            )
        return F.embedding(logits.argmax(-1), codebook)

    def _init_motion_cache(self, cache: dict, b: int, like: torch.Tensor) -> None:
        """The code-grid caches at full batch size (so subjects at different grid phases can be split)."""
        if "m_face" in cache:
            return
        cfg = self.cfg
        z = like.new_zeros

        def hist(name, layers, d):
            for i, layer in enumerate(layers):
                cache[f"{name}{i}"] = z(b, layer.window - 1, d)
                cache[f"{name}{i}_v"] = torch.zeros(b, layer.window - 1, dtype=torch.bool, device=like.device)

        cache["m_face"] = z(b, cfg.top_frames - 1, cfg.d_gen)
        hist("m_top", self.gen.top_layers, cfg.d_gen)
        hist("m_bot", self.gen.bottom_layers, cfg.d_gen)
        hist("m_dt", [self.vq.dt], cfg.d_vq)
        hist("m_db", [self.vq.db], 3 * cfg.d_vq)
        cache["m_last_top"] = z(b, cfg.d_vq)
        cache["m_last_bottom"] = z(b, 2 * cfg.d_vq)

    def _motion(self, face, positions, phase: int, cache: dict, gumbel_tau):
        """Face features of new rows [B, n, d] (all at one grid phase: the first new row is `phase` rows
        before a top code's read row, mod 16) -> rig rows [B, n, K]."""
        cfg = self.cfg
        la, sb, st, s = cfg.lookahead, cfg.bottom_stride, cfg.top_stride, cfg.top_frames
        n = face.shape[1]
        pos0 = positions[:, 0]
        o_t, o_b = phase, phase % sb  # first new rows that read a top / bottom code
        hist = s - 1
        rows = torch.cat([cache["m_face"], face], 1)
        cache["m_face"] = rows[:, rows.shape[1] - hist :]
        # top codes whose first frame is emitted in these rows
        top_rows = list(range(o_t, n, s))
        if not cfg.hierarchical:  # the one-VQ-VAE ablation: no top codes to predict (D_t, D_b read zeros)
            top = face.new_zeros(face.shape[0], 1 + len(top_rows), cfg.d_vq)
        elif top_rows:
            k = (pos0[:, None] + torch.tensor(top_rows, device=face.device) - la) // s
            x = self.gen.top_down(rows, [r + hist for r in top_rows])
            h = run_layers(self.gen.top_layers, x, k >= 0, cache, "m_top")
            e_t = self._select(self.gen.top_head(h), self.vq.q_t.codebook, k, 0, gumbel_tau)
            top = torch.cat([cache["m_last_top"][:, None], e_t], 1)
            cache["m_last_top"] = e_t[:, -1]
        else:
            top = cache["m_last_top"][:, None]
        first_sub = int(((pos0[0] + o_b - la) // sb) % st)  # the first read bottom code's place in its top code
        # bottom codes, each with D_t of its top code
        bot_rows = list(range(o_b, n, sb))
        if bot_rows:
            j = (pos0[:, None] + torch.tensor(bot_rows, device=face.device) - la) // sb
            sub_t = [(first_sub + i) % st for i in range(len(bot_rows))]
            top_read = [r - sb * q for r, q in zip(bot_rows, sub_t)]  # row reading each one's top code
            top_index = [(r - o_t) // s + 1 if r >= 0 else 0 for r in top_read]
            d_t = self.vq.decode_top(top, top_index, sub_t, j >= 0, cache)
            x = self.gen.bottom_in(torch.cat([self.gen.bottom_down(rows, [r + hist for r in bot_rows]), d_t], -1))
            h = run_layers(self.gen.bottom_layers, x, j >= 0, cache, "m_bot")
            e_b = self._select(self.gen.bottom_head(h), self.vq.q_b.codebook, j, 1, gumbel_tau)
            bottom = torch.cat([cache["m_last_bottom"][:, None], e_b], 1)
            cache["m_last_bottom"] = e_b[:, -1]
        else:
            bottom = cache["m_last_bottom"][:, None]
        # frames: each from its bottom and top codes (index 0: a code read in an earlier call)
        r = range(n)
        return self.vq.decode_rows(
            top,
            bottom,
            [(i - o_t) // s + 1 if i >= o_t else 0 for i in r],
            [(first_sub + (i - o_b) // sb) % st for i in r],
            [(i - o_b) // sb + 1 if i >= o_b else 0 for i in r],
            [(i - o_b) % sb for i in r],
            positions - la >= 0,  # frames before the stream's first are not attended
            cache,
        )

    def _run(self, mel, emotion, intensity, positions, cache: dict, auto: bool, style, gumbel_tau=None):
        """The causal pass over new rows (forward: all rows, empty cache; stream: the new block)."""
        cfg = self.cfg
        b, n = mel.shape[:2]
        with torch.no_grad():  # DEE learns from whole windows (stage "dee"); here it only conditions
            mu, logvar = self.dee.audio.sliding(mel, cache, cfg.dee_window)
            logits = self.dee.emotion_logits(mu, logvar)
            cond = self.condition(mu, logvar, emotion, intensity, auto)
        g = self.gen
        content = g.content.step(mel, cache, "content")
        x = g.face_in(torch.cat([content, g.style_z(cond) + g.style_id(style)[:, None]], -1))
        face = run_layers([g.face], x, None, cache, "face")
        self._init_motion_cache(cache, b, face)
        phase = torch.remainder(cfg.lookahead - positions[:, 0], cfg.top_frames)
        phases = phase.unique().tolist()
        if len(phases) == 1:
            rig = self._motion(face, positions, phases[0], cache, gumbel_tau)
        else:  # subjects at different grid phases (batched streams): one pass per phase
            rig = face.new_zeros(b, n, cfg.n_curves)
            for ph in phases:
                idx = (phase == ph).nonzero().flatten()
                sub = {k: v[idx] for k, v in cache.items() if k.startswith("m_")}
                rig[idx] = self._motion(face[idx], positions[idx], ph, sub, gumbel_tau)
                for k, v in sub.items():
                    cache[k] = cache[k].index_copy(0, idx, v)
        return {"rig": rig, "emotion_logits": logits}

    # -- the causal network -------------------------------------------------------------------
    def forward(self, mel, emotion, intensity, positions, auto: bool = False, speaker=None):
        """Causal pass: output row p depends on mel rows p - left_context .. p only.

        mel [B, T, n_mels] normalised log-mel; emotion [B, 8] weights; intensity [B]; positions [B, T]
        absolute frame indices (they place the code grid); speaker [B] (-1 or None: unknown).
        Returns rig [B, T, K] and emotion_logits [B, T, 8]."""
        style = self.speaker_index(speaker, mel.shape[0], mel.device)
        return self._run(mel, emotion, intensity, positions, {}, auto, style)

    def stream(self, mel, emotion, intensity, positions, cache: dict, auto: bool = False, speaker=None):
        """The same pass for new rows only, as if the rows before them were in `mel` (training/inference.py
        uses it). `cache` ({} at the start of a stream, updated in place) holds fixed-size tensors, batch
        first, so streams at different points stack. Cached rows keep the controls they were computed with."""
        style = self.speaker_index(speaker, mel.shape[0], mel.device)
        return self._run(mel, emotion, intensity, positions, cache, auto, style)

    def predict(self, mel, emotion, intensity, silence_mel: float, auto: bool = False):
        return predict_aligned(self, mel, emotion, intensity, silence_mel, auto)

    # -- training -----------------------------------------------------------------------------
    def stage_parameters(self, stage: str):
        """What each stage trains: DEE (both encoders, a, b, the prototypes); the TH-VQVAE (codebooks
        move by EMA, not the optimiser); the generator (DEE and TH-VQVAE frozen, as the paper). Without the
        top level (hierarchical=False) its modules stay in these lists and get no gradients."""
        parts = {"dee": self.dee, "vqvae": self.vq, "generator": self.gen}
        if stage not in parts:
            raise ValueError(f"unknown stage {stage!r}; DEEPTalk has {', '.join(self.stages)}")
        return list(parts[stage].parameters())

    def loss(self, batch: dict, stage: str = "dee"):
        """The stage's objective on a batch of windows (keys: see training/models/__init__.py).
        Returns (total, parts dict)."""
        if stage == "dee":
            return self._dee_loss(batch)
        if stage == "vqvae":
            return self._vq_loss(batch)
        if stage == "generator":
            return self._generator_loss(batch)
        raise ValueError(f"unknown stage {stage!r}; DEEPTalk has {', '.join(self.stages)}")

    @staticmethod
    def _label_weights(emotion: torch.Tensor) -> torch.Tensor:
        return emotion / emotion.sum(-1, keepdim=True).clamp(min=1e-8)

    def _dee_loss(self, batch: dict):
        """Eq. 7 (PCME++ CSD matching, both directions at once, x2 as released) + VIB + prototypes."""
        cfg, dee = self.cfg, self.dee
        mu_a, lv_a = dee.audio.embed(batch["mel"])
        mu_e, lv_e = dee.expr.embed(batch["target"])
        p = self._label_weights(batch["emotion"])
        matched = torch.eye(len(p), device=p.device)
        if cfg.match_by_label:
            matched = torch.maximum(matched, p @ p.T)
        match = 2 * F.binary_cross_entropy_with_logits(dee.match_logits(mu_e, lv_e, mu_a, lv_a), matched)
        vib = vib_kl(mu_a, lv_a) + vib_kl(mu_e, lv_e)
        proto = F.binary_cross_entropy_with_logits(
            dee.emotion_logits(mu_a, lv_a), p
        ) + F.binary_cross_entropy_with_logits(dee.emotion_logits(mu_e, lv_e), p)
        total = match + cfg.vib_beta * vib + cfg.w_proto * proto
        return total, {"match": match.detach(), "vib": vib.detach(), "proto": proto.detach()}

    def _pad_frames(self, target: torch.Tensor) -> torch.Tensor:
        """Right-pad (last frame repeated) to whole top codes."""
        pad = -target.shape[1] % self.cfg.top_frames
        return torch.cat([target, target[:, -1:].expand(-1, pad, -1)], 1) if pad else target

    def _vq_loss(self, batch: dict):
        """Eq. 16: reconstruction + commitment (codebooks follow an EMA); codes used, for the log."""
        cfg = self.cfg
        target = batch["target"]
        t = target.shape[1]
        e_t, e_b, commit, (i_t, i_b) = self.vq.encode(self._pad_frames(target))
        rec = ((self.vq.decode(e_t, e_b)[:, :t] - target) ** 2).sum(-1).mean()
        total = cfg.w_vq_rec * rec + cfg.w_commit * commit
        used = {"top_codes": 0 if i_t is None else i_t.unique().numel(), "bottom_codes": i_b.unique().numel()}
        parts = {"rec": rec.detach(), "commit": commit.detach()}
        parts.update({k: torch.tensor(float(v), device=target.device) for k, v in used.items()})
        return total, parts

    def _generator_loss(self, batch: dict):
        """Eq. 14: reconstruction + lip + emotion consistency (Eq. 15), through the frozen DEE and
        TH-VQVAE. Training picks codes by straight-through Gumbel-softmax at the scheduled tau (and steps
        the schedule); evaluation picks them as inference does. The emotion input is the label's
        prototype blended into the audio embedding by a random k (the clip's intensity in evaluation)."""
        cfg = self.cfg
        la = cfg.lookahead
        mel, target, emotion = batch["mel"], batch["target"], batch["emotion"]
        b, t = target.shape[:2]
        device = mel.device
        style = self.speaker_index(batch.get("speaker"), b, device)
        if self.training and cfg.speaker_dropout > 0:
            drop = torch.rand(b, device=device) < cfg.speaker_dropout
            style = torch.where(drop, torch.full_like(style, cfg.n_speakers), style)
        k = torch.rand(b, device=device) if self.training else batch["intensity"].to(device).clamp(0, 1)
        tau = self.tau() if self.training else None
        if self.training:
            self.gen_steps += 1
        pad = torch.full((b, la, mel.shape[2]), batch["silence_mel"], device=device, dtype=mel.dtype)
        positions = torch.arange(t + la, device=device).expand(b, -1)
        with frozen(self.dee, self.vq):
            rig = self._run(torch.cat([mel, pad], 1), emotion, k, positions, {}, False, style, tau)["rig"][:, la:]
            with torch.no_grad():
                goal = self.dee.blend(self.dee.audio.embed(mel)[0], emotion, k)
            mu_e, _ = self.dee.expr.embed(rig)
        err = (rig - target) ** 2
        rec = err.sum(-1).mean()
        lip = err[..., self.lip].sum(-1).mean() if bool(self.lip.any()) else rec.new_zeros(())
        emo = (1 - F.cosine_similarity(mu_e, goal, dim=-1)).mean()
        total = cfg.w_rec * rec + cfg.w_lip * lip + cfg.w_emo * emo
        parts = {"rec": rec.detach(), "lip": lip.detach(), "emo": emo.detach()}
        parts["tau"] = torch.tensor(tau if tau is not None else 0.0, device=device)
        return total, parts
