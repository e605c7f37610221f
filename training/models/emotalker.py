"""EmoTalker (emotion-aware talking heads from audio), one readable file, sizes from a dataclass config.

Paper: "EmoTalker: Audio Driven Emotion Aware Talking Head Generation" (Shen, Khan, Elhoseiny;
/work/shared/papers/emotalker.txt), with the released code (github.com/EmoTalker/EmoTalker) for the
numbers the paper leaves out. Pieces, with the paper's sections:

- the rig is split into lip-related curves m and the rest f (Sec. 3.2; the paper partitions 3DMM
  coefficients with StyleTalk's lip indices): here blocks.lip_mask(cfg.space), the jaw/mouth/tongue
  regions; the two are modelled by separate branches and put back together at the end;
- stage "vqvae" (Sec. 3.2, Eq. 2-3, Sec. 5): a 1-D conv VQ-VAE on f (conv, residual blocks, ReLU; two
  stride-2 convs down and nearest upsampling, l = 4; width 512, 4 residual blocks per level with
  dilations 27, 9, 3, 1, as released), an EMA codebook of K = 1024 codes of 256 dims (lambda = 0.99)
  with code reset (blocks.VectorQuantizerEMA, codebook first filled from encoder outputs as in the
  released bottleneck), and an emotion classification head on the encoder output (L_cls);
  L_VQ = SmoothL1(f, f^) + beta * commitment + L_cls (the codebook term is the EMA update, Sec. 5);
- stage "transformer" (Sec. 3.2, Eq. 4-9): a cross-modal Transformer decoder (6 layers, 4 heads,
  256 wide, feed-forward 512, post-norm, as released). Per layer: ALiBi causal self-attention over
  face tokens with the periodic bias floor((i - j) / h), h = 4 (Eq. 4-5); cross-attention to the
  content tokens (Sec. 3.2 "Emotion-content disentanglement": k-means, K = 200, cluster centres as
  features); cross-attention to the emotion-aware audio features; both cross-attentions under the
  audio alignment mask (Eq. 6-7); feed-forward. L_trans = |Z^ - Z_q|^2 + L_contra (Eq. 8), L_contra
  the softmax over cosine similarities to every code of the frozen codebook (Eq. 9). The frozen VQ-VAE
  decoder turns Z^ into f (as released, the continuous Z^ is decoded, not re-quantised);
- stage "lip" (Sec. 3.2 Eq. 10, Sec. 5): an audio encoder Phi_A over a 0.2 s mel window per frame,
  Phi_M1 maps [audio, reference face curves] to lip curves and Phi_M2 refines them, mixed
  m = 0.8 Phi_M1 + 0.2 Phi_M2(Phi_M1) (released audio_encoder.py, lip_mix = 0.2); trained with the
  MSE on the lip curves (released train_lip.py) against a randomly sampled, temporally repeated
  reference frame of f; at inference the reference is the face branch's own output, frame by frame.

Mapping onto emorig's inputs (training/models/__init__.py has the contract):
- the paper has no emotion label: generation is seeded with the coded reference image, which carries
  the identity's expression (Sec. 3.2 "Inference phase"; Sec. 5.4 feeds emotional driving frames
  there). Here the bridge's controls play that role: the reference token every face query starts from
  is a linear embedding of the 8 emotion weights and the same weights times the intensity, so the
  label picks the expression and the intensity scales it; with auto=True the weights are the audio
  classifier's own probabilities at each token;
- "emotion_logits" come from the emotion-aware audio encoder's classification head (the paper's HuBERT
  is fine-tuned for emotion recognition, SUPERB ER: projector 256, mean pooling, linear).

Substitutes for the pretrained networks we cannot have (each trained from scratch here):
- HuBERT fine-tuned for emotion (the emotion-aware audio feature, 768-d): a MelFrontend (log-mel +
  causal convs, frontend.py) of the same width, trained in stage "transformer" with the ER head's
  classification loss and a regression of the batch's `prosody` (pitch, periodicity, energy), the
  emotion-speech substitute; prosody is a training target only, forward reads nothing but the mel;
- HuBERT layer-9 features under k-means (the content tokens): k-means over fixed spectral-shape
  features, each log-mel row minus its mean over bins (so loudness, an emotion cue, is removed),
  stacked over `content_context` rows; fitted before training by `fit_content_tokens` (the trainer
  calls it), the centres kept in a buffer (saved with the weights); until then the centres are a
  fixed-seed random draw, so the network runs from construction;
- Wav2Lip's pretrained audio encoder (Phi_A, 2-D convs over 80 x 16 mel windows, frozen): a
  MelFrontend of the same 512-d output whose receptive field is about 0.2 s (Sec. 5);
- SadTalker's lip-reading and landmark losses are not used (the released lip training does not use
  them either): the lip loss is a curve-space MSE on the lip_mask curves.

Changes for real-time streaming, each because the paper's choice needs the whole utterance or the
model's own past outputs:
- generation is not autoregressive: the paper's queries are the previously generated code embeddings
  (teacher-forced Z_q shifted by one in training). Feeding outputs back makes a frame depend on the
  whole past and costs one pass per token; here every query starts as the reference token and the
  self-attention mixes the layers' hidden states of earlier tokens instead, so training runs exactly
  as inference does (no exposure bias) and a frame depends on a bounded past;
- self-attention is causal over a bounded window of `attn_window` = 24 tokens (the released code trains
  on 24-token clips, so no query there saw more);
- the alignment mask (Eq. 7) lets face token i see audio frames k(i-1) .. k(i+1), a centred band of two
  tokens of audio; here the band is causal: the `band` = 2 tokens of audio rows ending at the token's
  last row. k is l = 4 rows per token, since our audio rows run at the rig rate (the paper's k = 8 is
  50 Hz HuBERT over 6.25 Hz codes);
- every VQ-VAE conv is causal (left padding; the stride-2 convs see their own two frames and the two
  before), so a code summarises only its own and earlier frames, and the decoder builds a frame from
  codes that have ended. Codes sit on a grid of absolute frame positions: code j covers frames
  l*j .. l*j + l - 1 and is predicted from audio up to row l*j + lookahead, so within a code the
  audio lookahead runs from `lookahead` down to `lookahead` - (l - 1) frames;
- the ER head's mean over the utterance is a causal sliding mean over `cls_window` frames;
- `lookahead` frames of future (default 10 = 100 ms) are bought by reading the output late
  (blocks.predict_aligned), as every preset does.
- the released code adds random-Fourier absolute time embeddings to tokens and audio; here time is
  only relative (ALiBi and the band mask), so a stream of any length sees what training saw.

Other changes: the paper's video runs at 25 fps, ours at 100 fps, so a code (l = 4 frames) spans 40 ms,
not 160 ms; `downsample` = 16 would restore the span at the cost of 12 more frames of face latency.
A linear map from the Transformer's output to code space (CodeTalker's feat_map, the work EmoTalker
follows for predicting embeddings [40]) lets the post-norm decoder reach the codes' scale; the paper does
not mention one. Losses are means over elements, as the released training scripts compute them. Loss weights the paper
gives (Eq. 3, Eq. 8) are 1; the emotion-recognition and prosody terms (w_er, w_prosody) are ours.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from retarget.spaces import get_space
from training.emotions import EMOTIONS

from .blocks import CausalSelfAttention, VectorQuantizerEMA, lip_mask, predict_aligned
from .frontend import CausalConv, MelFrontend


@dataclass
class EmoTalkerConfig:
    space: str = "arkit"  # any rig space; the paper's is 3DMM expression (64) + pose (6) coefficients (Sec. 3.1)
    n_mels: int = 80  # training/features.py front end
    lookahead: int = 10  # frames of future audio (100 ms)
    lr: float = 1e-4  # stage 2's learning rate (AdamW, Sec. 5); the released VQ-VAE and lip scripts use it too
    # -- stage 1: VQ-VAE on the non-lip curves (Sec. 3.2, Sec. 5) --
    downsample: int = 4  # temporal downsampling rate l (Sec. 5, Tab. 3); a power of two (stride-2 levels)
    codebook_size: int = 1024  # K (Sec. 5, Tab. 3)
    code_dim: int = 256  # d_c (Sec. 5); also the Transformer width (released hidden_dim)
    vq_width: int = 512  # conv width (released opt.py --width, as T2M-GPT)
    vq_depth: int = 4  # residual blocks per level (released opt.py --depth)
    vq_dilation_growth: int = 3  # dilations 27, 9, 3, 1 (released opt.py --dilation-growth-rate)
    ema_decay: float = 0.99  # exponential moving constant lambda (Sec. 5)
    beta: float = 0.2  # commitment weight beta (Eq. 3; the value is the released --commit)
    w_vq_cls: float = 1.0  # weight of L_cls in Eq. 3
    # -- stage 2: cross-modal Transformer (Sec. 3.2, Sec. 5) --
    n_layers: int = 6  # released opt.py --num_layers
    n_heads: int = 4  # released opt.py --n_head
    d_ff: int = 512  # 2 x hidden (released faceformer.py)
    dropout: float = 0.1  # torch TransformerDecoderLayer default, as released
    alibi_period: int = 4  # context window h of the self-attention bias (Sec. 5, Eq. 5)
    attn_window: int = 24  # face tokens one query sees (released clips: 96 frames / l = 24 tokens)
    band: int = 2  # face tokens of audio the alignment mask opens (Eq. 7: k(i-1) .. k(i+1))
    d_audio: int = 768  # emotion-aware audio feature width (HuBERT base, Sec. 3.2); MelFrontend substitute
    emotion_dilations: tuple[int, ...] = (1, 2, 4, 8)  # substitute encoder, not in the paper
    cls_hidden: int = 256  # ER head projector (SUPERB ER / HubertForSequenceClassification, Sec. 5 fn. 1)
    cls_window: int = 100  # frames of the causal sliding mean standing in for the ER head's mean pooling
    n_content: int = 200  # k-means vocabulary K for the content tokens (Sec. 3.2)
    content_context: int = 5  # log-mel rows stacked per content feature (50 ms; substitute for HuBERT L9)
    kmeans_iters: int = 30  # Lloyd iterations of fit_content_tokens
    kmeans_seed: int = 0  # k-means++ seeding and the centres before fitting
    contra_tau: float = 1.0  # Eq. 9 takes exp(cosine) with no temperature
    w_code: float = 1.0  # |Z^ - Z_q|^2 (Eq. 8)
    w_contra: float = 1.0  # L_contra (Eq. 8)
    w_er: float = 0.1  # emotion recognition of the audio encoder (ours: stands in for HuBERT's ER fine-tuning)
    w_prosody: float = 0.1  # prosody regression of the audio encoder (ours: the emotion-speech substitute)
    # -- stage 3: lip branch (Sec. 3.2 Eq. 10, Sec. 5) --
    d_lip_audio: int = 512  # Phi_A output (Wav2Lip audio encoder, released audio_encoder.py)
    lip_dilations: tuple[int, ...] = (1, 2, 4, 2, 1)  # receptive field 21 frames ~ the 0.2 s window (Sec. 5)
    lip_mix: float = 0.2  # m = (1 - mix) Phi_M1 + mix Phi_M2(Phi_M1) (released opt.py --lip_mix)

    def __post_init__(self):  # JSON gives lists; keep tuples so configs compare equal
        for name in ("emotion_dilations", "lip_dilations"):
            setattr(self, name, tuple(getattr(self, name)))
        if self.downsample < 1 or self.downsample & (self.downsample - 1):
            raise ValueError(f"downsample must be a power of two, got {self.downsample}")

    @property
    def n_curves(self) -> int:
        return len(get_space(self.space))

    @property
    def levels(self) -> int:
        """Stride-2 levels of the VQ-VAE (2 for l = 4)."""
        return int(math.log2(self.downsample))

    @property
    def band_rows(self) -> int:
        return self.band * self.downsample

    @property
    def left_context(self) -> int:
        """Past frames (of log-mel) one output row depends on (an upper bound).

        A face row reads the code that ended last and, through the causal VQ decoder, codes further
        back; a code reads `attn_window` - 1 earlier codes per layer and, at each, the audio band;
        the band's rows read the audio encoder (or the content stack), and in auto mode the reference
        token reads the classifier's sliding mean. The lip branch reads its own audio window and the
        face row of the same frame."""
        k, ds = 2, self.downsample  # every conv has kernel 3: it reaches 2 steps back
        audio = k * sum(self.emotion_dilations)
        memory = self.band_rows - 1 + max(audio, self.content_context - 1)
        style = audio + self.cls_window - 1
        tokens = self.n_layers * (self.attn_window - 1) * ds + max(memory, style)
        blocks = k * sum(self.vq_dilation_growth**d for d in range(self.vq_depth))
        reach, step = 2 * k, 1  # the decoder's two output convs at the frame rate
        for _ in range(self.levels):  # conv after the upsampling, the upsampling, the residual blocks
            coarse = 2 * step
            reach += k * step + (coarse - 1) + blocks * coarse
            step = coarse
        reach += k * ds + (ds - 1)  # the decoder's input conv over codes; a row reads the code that ended last
        return max(k * sum(self.lip_dilations), reach + tokens)


# -- small pieces -----------------------------------------------------------------------------------


def causal_sliding_mean(x: torch.Tensor, window: int) -> torch.Tensor:
    """[B, T, C] -> mean over the last `window` frames (fewer at the start)."""
    t = x.shape[1]
    total = F.avg_pool1d(F.pad(x.transpose(1, 2), (window - 1, 0)), window, stride=1) * window
    count = torch.arange(1, t + 1, device=x.device).clamp(max=window).to(x.dtype)
    return (total / count).transpose(1, 2)


def content_features(mel: torch.Tensor, context: int) -> torch.Tensor:
    """[B, T, n_mels] -> [B, T, n_mels * context]: each log-mel row minus its mean over bins (spectral
    shape without loudness), rows p - context + 1 .. p stacked (zeros before the start, which is
    what silence becomes)."""
    x = mel - mel.mean(-1, keepdim=True)
    x = F.pad(x, (0, 0, context - 1, 0))
    return x.unfold(1, context, 1).flatten(2)


def kmeans(x: torch.Tensor, k: int, iters: int = 30, seed: int = 0) -> torch.Tensor:
    """Lloyd's k-means with k-means++ seeding, deterministic for a seed: [N, D] -> centres [k, D].

    Fewer distinct points than k leaves duplicate centres; an empty cluster is re-seeded with the
    point farthest from its centre."""
    g = torch.Generator().manual_seed(seed)
    n = x.shape[0]
    if n == 0:
        raise ValueError("k-means needs at least one point")
    centres = x.new_empty(k, x.shape[1])
    first = int(torch.randint(n, (1,), generator=g))
    centres[0] = x[first]
    d2 = (x - x[first]).pow(2).sum(1)
    for i in range(1, k):
        weights = d2 if float(d2.sum()) > 0 else torch.ones_like(d2)
        pick = int(torch.multinomial(weights.double().cpu(), 1, generator=g))
        centres[i] = x[pick]
        d2 = torch.minimum(d2, (x - x[pick]).pow(2).sum(1))
    for _ in range(iters):
        dist = torch.cdist(x, centres)
        assign = dist.argmin(1)
        counts = torch.bincount(assign, minlength=k)
        new = torch.zeros_like(centres).index_add_(0, assign, x) / counts.clamp(min=1)[:, None].to(x.dtype)
        empty = counts == 0
        if empty.any():
            far = dist.gather(1, assign[:, None])[:, 0].topk(int(empty.sum())).indices
            new[empty] = x[far]
        done = torch.equal(new, centres)
        centres = new
        if done:
            break
    return centres


def codebook_contrastive_loss(z: torch.Tensor, codebook: torch.Tensor, idx: torch.Tensor, tau: float = 1.0):
    """Eq. 9: -log softmax over cosine similarities of each predicted code z_i [.., d] to every code of
    the codebook [K, d], the positive being its target code idx_i (all other codes are negatives)."""
    sim = F.normalize(z, dim=-1) @ F.normalize(codebook, dim=-1).T / tau
    return F.cross_entropy(sim.reshape(-1, sim.shape[-1]), idx.reshape(-1))


class StridedCausalConv(nn.Conv1d):
    """Temporal downsampling by 2 (T2M-GPT's kernel-4 stride-2 conv), left padded: output m sees
    inputs 2m - 2 .. 2m + 1, its own two frames and the two before."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__(c_in, c_out, 4, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(x, (2, 0)))


class ResBlock(nn.Module):
    """T2M-GPT's ResConv1DBlock (pre-activation ReLU, dilated kernel-3 conv, 1x1 conv, residual), causal."""

    def __init__(self, width: int, dilation: int):
        super().__init__()
        self.conv1 = CausalConv(width, width, 3, dilation)
        self.conv2 = nn.Conv1d(width, width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(F.relu(x))))


def res_stack(cfg: EmoTalkerConfig) -> nn.Sequential:
    """Resnet1D: `vq_depth` blocks, dilations growth^(depth-1) .. 1 (reversed, as released)."""
    return nn.Sequential(*(ResBlock(cfg.vq_width, cfg.vq_dilation_growth**d) for d in reversed(range(cfg.vq_depth))))


class MotionEncoder(nn.Module):
    """E (Sec. 3.2): conv, ReLU, [stride-2 conv, residual blocks] x log2(l), conv to d_c. [B, T, C] -> [B, T/l, d_c]."""

    def __init__(self, n_in: int, cfg: EmoTalkerConfig):
        super().__init__()
        w = cfg.vq_width
        layers = [CausalConv(n_in, w, 3, 1), nn.ReLU()]
        for _ in range(cfg.levels):
            layers += [StridedCausalConv(w, w), res_stack(cfg)]
        layers.append(CausalConv(w, cfg.code_dim, 3, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.transpose(1, 2)).transpose(1, 2)


class MotionDecoder(nn.Module):
    """D (Sec. 3.2): conv, ReLU, [residual blocks, nearest x2, conv] x log2(l), conv, ReLU, conv.
    [B, n, d_c] -> [B, n*l, C]; frame l*j + i is built from codes 0..j only."""

    def __init__(self, n_out: int, cfg: EmoTalkerConfig):
        super().__init__()
        w = cfg.vq_width
        layers = [CausalConv(cfg.code_dim, w, 3, 1), nn.ReLU()]
        for _ in range(cfg.levels):
            layers += [res_stack(cfg), nn.Upsample(scale_factor=2, mode="nearest"), CausalConv(w, w, 3, 1)]
        layers += [CausalConv(w, w, 3, 1), nn.ReLU(), CausalConv(w, n_out, 3, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.transpose(1, 2)).transpose(1, 2)


class BandCrossAttention(nn.Module):
    """Cross-modal attention (Eq. 6) under the alignment mask: face-token queries, audio-row keys and
    values; `visible` [n, T] (True = may attend) is the causal band of Eq. 7."""

    def __init__(self, dim: int, n_heads: int, dropout: float = 0.0):
        super().__init__()
        assert dim % n_heads == 0, "dim must be a multiple of n_heads"
        self.n_heads, self.dropout = n_heads, dropout
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, memory: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        h = self.n_heads
        q = self.q(x).view(b, n, h, d // h).transpose(1, 2)
        k, v = self.kv(memory).view(b, memory.shape[1], 2, h, d // h).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=visible[None, None], dropout_p=self.dropout if self.training else 0
        )
        return self.out(y.transpose(1, 2).reshape(b, n, d))


class CrossModalLayer(nn.Module):
    """One decoder layer (post-norm, as torch's TransformerDecoderLayer in the released code): ALiBi
    self-attention (Eq. 4-5), cross-attention to the content tokens, cross-attention to the
    emotion-aware audio features (Sec. 3.2), feed-forward."""

    def __init__(self, cfg: EmoTalkerConfig):
        super().__init__()
        d = cfg.code_dim
        self.self_attn = CausalSelfAttention(d, cfg.n_heads, cfg.attn_window, cfg.alibi_period, cfg.dropout)
        self.content_attn = BandCrossAttention(d, cfg.n_heads, cfg.dropout)
        self.audio_attn = BandCrossAttention(d, cfg.n_heads, cfg.dropout)
        self.ff = nn.Sequential(nn.Linear(d, cfg.d_ff), nn.ReLU(), nn.Dropout(cfg.dropout), nn.Linear(cfg.d_ff, d))
        self.norms = nn.ModuleList(nn.LayerNorm(d) for _ in range(4))
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x, content, audio, visible):
        x = self.norms[0](x + self.drop(self.self_attn(x)))
        x = self.norms[1](x + self.drop(self.content_attn(x, content, visible)))
        x = self.norms[2](x + self.drop(self.audio_attn(x, audio, visible)))
        return self.norms[3](x + self.drop(self.ff(x)))


# -- the network ------------------------------------------------------------------------------------


class EmoTalker(nn.Module):
    stages = ("vqvae", "transformer", "lip")

    def __init__(self, cfg: EmoTalkerConfig):
        super().__init__()
        self.cfg = cfg
        n_emotions = len(EMOTIONS)
        lip = lip_mask(cfg.space)
        face_idx, lip_idx = (~lip).nonzero().flatten(), lip.nonzero().flatten()
        n_face, n_lip = len(face_idx), len(lip_idx)
        # Derived from cfg.space, so not saved with the weights.
        self.register_buffer("face_idx", face_idx, persistent=False)
        self.register_buffer("lip_idx", lip_idx, persistent=False)
        self.register_buffer("order", torch.argsort(torch.cat([face_idx, lip_idx])), persistent=False)

        # Stage "vqvae": the emotion-aware facial expression codebook (Sec. 3.2, Eq. 2-3).
        self.vq_encoder = MotionEncoder(n_face, cfg)
        self.quantizer = VectorQuantizerEMA(cfg.codebook_size, cfg.code_dim, cfg.ema_decay, cfg.beta)
        self.register_buffer("codebook_filled", torch.zeros(()))  # first batch of codes seeds the codebook
        self.vq_decoder = MotionDecoder(n_face, cfg)
        self.vq_classifier = nn.Linear(cfg.code_dim, n_emotions)  # the classification head after E

        # Stage "transformer": audio features, content tokens, the cross-modal decoder (Sec. 3.2).
        d = cfg.code_dim
        self.audio_encoder = MelFrontend(cfg.n_mels, cfg.d_audio, 3, cfg.emotion_dilations)
        self.er_projector = nn.Linear(cfg.d_audio, cfg.cls_hidden)  # SUPERB ER head: projector, pool, linear
        self.er_classifier = nn.Linear(cfg.cls_hidden, n_emotions)
        self.prosody_head = nn.Linear(cfg.d_audio, 3)  # training target only (the emotion-speech substitute)
        self.audio_map = nn.Linear(cfg.d_audio, d)  # released audio_emb_face
        g = torch.Generator().manual_seed(cfg.kmeans_seed)
        n_feat = cfg.n_mels * cfg.content_context
        self.register_buffer("content_centres", torch.randn(cfg.n_content, n_feat, generator=g))
        self.content_map = nn.Linear(n_feat, d)  # cluster centre -> the discrete code feature
        self.reference = nn.Linear(2 * n_emotions, d)  # [weights, intensity * weights] -> the reference token
        self.layers = nn.ModuleList(CrossModalLayer(cfg) for _ in range(cfg.n_layers))
        self.code_head = nn.Linear(d, d)  # decoder output -> code space (CodeTalker's feat_map, [40])

        # Stage "lip": Phi_A, Phi_M1, Phi_M2 (Eq. 10).
        self.lip_audio = MelFrontend(cfg.n_mels, cfg.d_lip_audio, 3, cfg.lip_dilations)
        self.lip_map1 = nn.Linear(cfg.d_lip_audio + n_face, n_lip)
        self.lip_map2 = nn.Linear(n_lip, n_lip)

    # -- content tokens ----------------------------------------------------------------------------
    @torch.no_grad()
    def fit_content_tokens(self, mels, max_points: int = 20000) -> torch.Tensor:
        """The trainer's hook, before training: k-means (K = n_content) over the content features of
        some training mel ([B, T, n_mels] tensors, or a list of them). Deterministic for the config's
        seed; the centres go to the `content_centres` buffer (saved in the checkpoint)."""
        mels = [mels] if torch.is_tensor(mels) else list(mels)
        feats = torch.cat([content_features(m.float(), self.cfg.content_context).flatten(0, 1) for m in mels])
        if len(feats) > max_points:
            g = torch.Generator().manual_seed(self.cfg.kmeans_seed)
            feats = feats[torch.randperm(len(feats), generator=g)[:max_points].to(feats.device)]
        centres = kmeans(feats, self.cfg.n_content, self.cfg.kmeans_iters, self.cfg.kmeans_seed)
        self.content_centres.copy_(centres.to(self.content_centres))
        return self.content_centres

    def content_tokens(self, mel: torch.Tensor) -> torch.Tensor:
        """[B, T, n_mels] -> [B, T] index of each row's nearest content centre."""
        x = content_features(mel, self.cfg.content_context)
        c = self.content_centres
        dist = x.pow(2).sum(-1, keepdim=True) - 2 * x @ c.T + c.pow(2).sum(-1)
        return dist.argmin(-1)

    # -- pieces ------------------------------------------------------------------------------------
    def encode_audio(self, mel: torch.Tensor):
        """mel -> (emotion-aware features [B, T, d_audio], emotion_logits [B, T, 8], content [B, T, d])."""
        audio = self.audio_encoder(mel)
        logits = self.er_classifier(causal_sliding_mean(self.er_projector(audio), self.cfg.cls_window))
        content = self.content_map(self.content_centres[self.content_tokens(mel)])
        return audio, logits, content

    def face_tokens(self, audio, logits, content, emotion, intensity, first: int, auto: bool = False):
        """The cross-modal Transformer: predicted codes Z^ [B, n, d_c] for the codes ending at rows
        first, first + l, ... of the window (first in 0 .. l-1)."""
        cfg = self.cfg
        t = audio.shape[1]
        if first >= t:  # no code ends in this window (a stream's first few rows)
            return audio.new_zeros(audio.shape[0], 0, cfg.code_dim)
        rows = torch.arange(first, t, cfg.downsample, device=audio.device)
        if auto:  # the speech's own emotion, token by token
            weights = logits[:, rows].softmax(-1)
        else:
            weights = emotion[:, None, :].expand(-1, len(rows), -1)
        x = self.reference(torch.cat([weights, intensity.reshape(-1, 1, 1).to(weights) * weights], -1))
        offset = rows[:, None] - torch.arange(t, device=audio.device)[None, :]
        visible = (offset >= 0) & (offset < cfg.band_rows)  # Eq. 7, causal
        memory = self.audio_map(audio)
        for layer in self.layers:
            x = layer(x, content, memory, visible)
        return self.code_head(x)

    def decode_face(self, z: torch.Tensor, first: int, t: int) -> torch.Tensor:
        """Codes ending at rows first, first + l, ... -> face curves [B, t, n_face]: the frames of code j
        at rows first + l*j .. first + l*j + l - 1 (rows before `first` come from a zero code)."""
        start = self.cfg.downsample - first
        frames = self.vq_decoder(torch.cat([z.new_zeros(z.shape[0], 1, z.shape[2]), z], 1))
        return frames[:, start : start + t]

    def lip_branch(self, mel: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        """Eq. 10: audio [B, T, n_mels] + reference face curves [B, T, n_face] -> lip curves [B, T, n_lip]."""
        y = self.lip_map1(torch.cat([self.lip_audio(mel), reference], -1))
        return (1 - self.cfg.lip_mix) * y + self.cfg.lip_mix * self.lip_map2(y)

    # -- the causal network -------------------------------------------------------------------
    def forward(self, mel, emotion, intensity, positions, auto: bool = False):
        """Causal pass: output row p depends on mel rows p - left_context .. p only.

        mel [B, T, n_mels] normalised log-mel; emotion [B, 8] weights; intensity [B]; positions
        [B, T] absolute frame indices (they place the code grid). Returns rig [B, T, K] and
        emotion_logits [B, T, 8]."""
        cfg = self.cfg
        b, t = mel.shape[:2]
        audio, logits, content = self.encode_audio(mel)
        # The code grid is absolute: codes end at rows with position = lookahead (mod l).
        first = (cfg.lookahead - positions[:, 0]) % cfg.downsample
        phases = first.unique().tolist()
        if len(phases) == 1:
            z = self.face_tokens(audio, logits, content, emotion, intensity, phases[0], auto)
            face = self.decode_face(z, phases[0], t)
        else:  # subjects at different phases (a batched stream): one pass per phase
            face = mel.new_zeros(b, t, len(self.face_idx))
            for phase in phases:
                i = (first == phase).nonzero().flatten()
                z = self.face_tokens(audio[i], logits[i], content[i], emotion[i], intensity[i], phase, auto)
                face[i] = self.decode_face(z, phase, t)
        lip = self.lip_branch(mel, face)  # at inference the lips follow the generated face (Sec. 3.2)
        rig = torch.cat([face, lip], -1)[..., self.order]
        return {"rig": rig, "emotion_logits": logits}

    def predict(self, mel, emotion, intensity, silence_mel: float, auto: bool = False):
        return predict_aligned(self, mel, emotion, intensity, silence_mel, auto)

    # -- training -----------------------------------------------------------------------------
    def stage_parameters(self, stage: str):
        """What each stage trains: the VQ-VAE and its classifier; the audio encoder, its heads and the
        Transformer (VQ-VAE frozen); the lip branch."""
        modules = {
            "vqvae": [self.vq_encoder, self.quantizer, self.vq_decoder, self.vq_classifier],
            "transformer": [
                self.audio_encoder,
                self.er_projector,
                self.er_classifier,
                self.prosody_head,
                self.audio_map,
                self.content_map,
                self.reference,
                self.layers,
                self.code_head,
            ],
            "lip": [self.lip_audio, self.lip_map1, self.lip_map2],
        }
        if stage not in modules:
            raise ValueError(f"unknown stage {stage!r}; EmoTalker has {', '.join(self.stages)}")
        return [p for m in modules[stage] for p in m.parameters()]

    def loss(self, batch: dict, stage: str = "vqvae"):
        """The stage's objective on a batch of windows (keys: see training/models/__init__.py).
        Returns (total, parts dict)."""
        if stage == "vqvae":
            return self._vq_loss(batch)
        if stage == "transformer":
            return self._transformer_loss(batch)
        if stage == "lip":
            return self._lip_loss(batch)
        raise ValueError(f"unknown stage {stage!r}; EmoTalker has {', '.join(self.stages)}")

    def _face_target(self, target: torch.Tensor) -> torch.Tensor:
        """Non-lip curves, right-padded (last frame repeated) to whole codes."""
        f = target[..., self.face_idx]
        pad = -f.shape[1] % self.cfg.downsample
        return torch.cat([f, f[:, -1:].expand(-1, pad, -1)], 1) if pad else f

    def _fill_codebook(self, z: torch.Tensor) -> None:
        """Seed the codebook with encoder outputs on the first training batch (the released
        bottleneck's init_k / T2M-GPT's QuantizeEMAReset), tiled with a little noise if too few."""
        q = self.quantizer
        flat = z.detach().reshape(-1, q.dim)
        if len(flat) < q.n_codes:
            flat = flat.repeat(math.ceil(q.n_codes / len(flat)), 1)
            flat = flat + torch.randn_like(flat) * 0.01 / math.sqrt(q.dim)
        pick = flat[torch.randperm(len(flat), device=flat.device)[: q.n_codes]]
        q.codebook.copy_(pick)
        q.embed_sum.copy_(pick)
        q.cluster_size.fill_(1.0)
        self.codebook_filled.fill_(1.0)

    def _vq_loss(self, batch: dict):
        """Eq. 3: SmoothL1 reconstruction + beta * commitment (EMA codebook, Sec. 5) + L_cls."""
        target, emotion = batch["target"], batch["emotion"]
        t = target.shape[1]
        f = self._face_target(target)
        z = self.vq_encoder(f)
        if self.training and not bool(self.codebook_filled):
            with torch.no_grad():
                self._fill_codebook(z)
        zq, _, commit = self.quantizer(z)
        rec = F.smooth_l1_loss(self.vq_decoder(zq)[:, :t], f[:, :t])
        logits = self.vq_classifier(z)  # every code predicts the clip's emotion
        cls = F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), emotion[:, None, :].expand(-1, z.shape[1], -1).flatten(0, 1)
        )
        total = rec + commit + self.cfg.w_vq_cls * cls
        return total, {"rec": rec.detach(), "commit": commit.detach(), "cls": cls.detach()}

    def _pad_mel(self, mel: torch.Tensor, silence_mel: float) -> torch.Tensor:
        pad = torch.full((mel.shape[0], self.cfg.lookahead, mel.shape[2]), silence_mel, device=mel.device)
        return torch.cat([mel, pad.to(mel.dtype)], 1)

    def _transformer_loss(self, batch: dict):
        """Eq. 8: |Z^ - Z_q|^2 + L_contra (Eq. 9) against the frozen VQ-VAE's codes of the target, plus
        the audio encoder's emotion recognition and prosody terms (ours)."""
        cfg = self.cfg
        la, ds = cfg.lookahead, cfg.downsample
        mel, target, emotion = batch["mel"], batch["target"], batch["emotion"]
        t = mel.shape[1]
        with torch.no_grad():
            idx = self.quantizer.indices(self.vq_encoder(self._face_target(target)))
            zq = self.quantizer.lookup(idx)
        audio, logits, content = self.encode_audio(self._pad_mel(mel, batch["silence_mel"]))
        first = la % ds  # training windows start at position 0: codes end at rows first, first + l, ...
        z = self.face_tokens(audio, logits, content, emotion, batch["intensity"], first)
        z = z[:, (la - first) // ds :]  # code j of the target ends at row l*j + la
        code = F.mse_loss(z, zq)
        contra = codebook_contrastive_loss(z, self.quantizer.codebook, idx, cfg.contra_tau)
        frame_logits = logits[:, la:]
        er = F.cross_entropy(frame_logits.flatten(0, 1), emotion[:, None, :].expand(-1, t, -1).flatten(0, 1))
        if "prosody" in batch:
            prosody = F.mse_loss(self.prosody_head(audio[:, la:]), batch["prosody"])
        else:
            prosody = torch.zeros((), device=mel.device)
        total = cfg.w_code * code + cfg.w_contra * contra + cfg.w_er * er + cfg.w_prosody * prosody
        parts = {"code": code, "contra": contra, "er": er, "prosody": prosody}
        return total, {k: v.detach() for k, v in parts.items()}

    def _lip_loss(self, batch: dict):
        """Released train_lip.py: MSE of the lip curves, the reference a random frame of the clip's
        face curves repeated over time (the middle frame in eval mode, so validation is repeatable)."""
        mel, target = batch["mel"], batch["target"]
        b, t = target.shape[:2]
        la = self.cfg.lookahead
        face = target[..., self.face_idx]
        if self.training:
            pick = torch.randint(t, (b,), device=target.device)
        else:
            pick = torch.full((b,), t // 2, device=target.device)
        reference = face[torch.arange(b, device=target.device), pick][:, None, :].expand(-1, t + la, -1)
        lip = self.lip_branch(self._pad_mel(mel, batch["silence_mel"]), reference)[:, la:]
        loss = F.mse_loss(lip, target[..., self.lip_idx])
        return loss, {"lip": loss.detach()}
