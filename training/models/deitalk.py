"""DEITalk (Dynamic Emotional Intensity Talk), one readable file, sizes from a dataclass config.

Paper: "DEITalk: Speech-Driven 3D Facial Animation with Dynamic Emotional-Intensity Modeling"
(/work/shared/papers/deitalk.txt). Pieces, with the paper's sections:

- speech features S_1:T (Sec. 3.2): here the MelFrontend substitute (see frontend.py), 100 frames/s;
- dynamic positional encoding, DPE (Sec. 3.2, Eq. 2-3);
- dynamic emotional intensity, DEI (Sec. 3.3): S -> S_emo (linear, 128-d); a motion encoder (4-layer
  TCN + linear) for the ground-truth rig; max-pooled embeddings trained CLIP-style (Eq. 4, 9-10);
  saliency e_sim_t = cos(s_emo_t, s_max) (Eq. 5); intensity features e_in_t = e_sim_t * s_emo_t (Eq. 6);
  an emotion classifier on the embedding (Eq. 11);
- emotion-guided TCN decoder (Sec. 3.4, Eq. 7): 8 conv layers, dilations 1,2,4,8,1,2,4,8, with the
  style and intensity features concatenated to the input of every layer; a linear head to the rig;
- loss L = 0.1 L_con + 0.1 L_cla + 1.0 L_pos + 4.0 L_vel (Eq. 8, 12, 13).

Changes for real-time streaming, each because the paper's choice needs the whole utterance:
- every conv is causal; `lookahead` frames of future are bought by reading the output `lookahead`
  frames late (equivalently: right padding of `lookahead` frames), so a frame depends on a bounded
  window [t - left_context, t + lookahead] and streaming equals offline exactly;
- s_max for the saliency (Eq. 5) is a causal sliding max over `saliency_window` frames, not the
  max over the whole sequence (the contrastive loss still pools the whole training window, Eq. 4);
- DPE's sequence length T (unknown while streaming) is a fixed horizon: position min(t, H) / H;
- the style one-hot (5 styles in the paper) is the bridge's 8 emotion weights plus the user's
  intensity control, so blends and the intensity slider are inputs the network learns to follow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from retarget.spaces import get_space
from training.emotions import EMOTIONS

from .blocks import acceleration_loss, lip_mask, predict_aligned, velocity_loss
from .frontend import CausalConv, MelFrontend

# Event heads (emorig's addition): batch label key -> (logit layer, face layer); the face layer's
# output is named by EVENT_FACE. Order is the order the gates apply.
EVENT_HEADS = {"rounding": ("rounding_logit", "rounded_head"), "closure": ("closure_logit", "sealed_head")}
EVENT_FACE = {"rounding": "rounded", "closure": "sealed"}


@dataclass
class DEITalkConfig:
    space: str = "arkit"  # any rig space; the paper's is a 185-curve MetaHuman control rig (Sec. 3)
    n_mels: int = 80  # training/features.py front end
    d_speech: int = 768  # wav2vec2-base hidden size (Sec. 3.2); the mel front-end projects to it
    frontend_dilations: tuple[int, ...] = (1, 2)  # substitute front-end, not in the paper
    d_emo: int = 128  # S_emo, M_emo and E_in width (Sec. 3.3)
    motion_channels: tuple[int, ...] = (384, 384, 768, 768)  # motion encoder TCN filters (Sec. 4.1)
    motion_dilations: tuple[int, ...] = (1, 2, 4, 8)  # (Sec. 4.1)
    classifier_hidden: int = 64  # classifier FC widths {64, classes} (Sec. 4.1)
    d_style: int = 16  # style embedding E_sty (Sec. 3.4)
    tcn_channels: int = 512  # decoder filters (Sec. 4.1)
    tcn_kernel: int = 3  # (Sec. 4.1)
    tcn_dilations: tuple[int, ...] = (1, 2, 4, 8, 1, 2, 4, 8)  # (Sec. 4.1)
    lookahead: int = 10  # frames of future audio (100 ms); the paper's symmetric padding sees 30
    saliency_window: int = 64  # frames of the causal sliding max standing in for Eq. 4's s_max
    dpe_horizon: int = 1000  # frames (10 s, ETH-3D clips are 8-15 s, Sec. 4.1) standing in for T in Eq. 2
    tau: float = 0.07  # contrastive temperature (Sec. 4.1)
    w_con: float = 0.1  # lambda_1 (Sec. 3.5)
    w_cla: float = 0.1  # lambda_2
    w_pos: float = 1.0  # lambda_3
    w_vel: float = 4.0  # lambda_4
    # The paper's ablations (Table 3): without the DEI module (no intensity features, no contrast
    # or classification loss; `auto` then has no emotion estimate) and without DPE.
    dei: bool = True
    dpe: bool = True
    # emorig's addition, off by default (docs/presets.md has what it measured): a closure head.
    # Regressing toward the lip press shrinks it when the network is unsure (P/B/M end half-shut),
    # so a yes/no closure probability (BCE on the teacher's P/B/M plateaus) gates a second head,
    # the face with the lips sealed, trained only on sealed frames. Output = base + gate * (sealed
    # - base) on the lip curves, gate = sigmoid(closure_sharpness * logit).
    closure_head: bool = False
    w_closure: float = 0.1
    w_sealed: float = 1.0
    closure_sharpness: float = 3.0
    # The gate's half point, as a probability. Sealed frames are ~4% of speech, so a network
    # trained by plain BCE is rarely 50% sure of one on a new voice: training refits this on the
    # validation windows at every validation (`calibrate`: the best F1 for sealed vs not).
    closure_threshold: float = 0.5
    # Decoding the closure as a decision (issue 12): the sealed head regresses toward the teacher's
    # plateaus and comes out a little open (jaw ~0.07 with mouthClose short of it), and a blend at a
    # partial gate halves both, so an M the network did spot still reads open. `closure_seal` makes
    # the closure face's lips touch (ARKit's mouthClose >= jawOpen, jaw capped at `seal_jaw`) and
    # `closure_hold` keeps the gate at its peak over the last that many frames, so a short, late
    # or wavering spike still gives a whole closure instead of a flicker.
    closure_seal: bool = False
    seal_jaw: float = 0.1
    closure_hold: int = 0
    # After the hold the gate eases off over this many frames instead of dropping at once: the lips
    # part the way the teacher's do (a ~60 ms ramp), not in one frame (jitter).
    closure_release: int = 0
    # A closure that snaps shut in one frame reads as a flicker (the v9 press shook ~100x as
    # much as the teacher's, whose lips close over ~60 ms). `closure_attack` lets the gate rise
    # by at most 1/(attack+1) a frame, and `closure_lead` trains the closure logit to fire that
    # many frames before the teacher's plateau (inside its ramp-in), so the ramp ends where the
    # plateau starts instead of late.
    closure_attack: int = 0
    closure_lead: int = 0
    # The same for rounded vowels (UW/OW/W): regressed pucker/funnel shrinks toward the mean when
    # the network is unsure, so a rounding probability gates a "rounded lips" head. Applied before
    # the closure gate (a B inside a rounded vowel still seals the lips).
    rounding_head: bool = False
    w_rounding: float = 0.1
    w_rounded: float = 1.0
    rounding_sharpness: float = 3.0
    rounding_threshold: float = 0.5
    # The closure's hold and release for the rounding gate, tried against the pucker's jitter (v9's
    # mouthPucker shook 11x as much as the teacher's): holds of 1-2 frames changed nothing
    # measurable (docs/model-card.md), so they are off in the shipped model.
    rounding_hold: int = 0
    rounding_release: int = 0
    # Every event, not every frame (issue 12): the eye, and the lip checks, ask that each P/B/M
    # seals the lips at least once and each rounded vowel rounds them, while frame-wise BCE is
    # content when most of a plateau scores 0.3. `w_<event>_any` adds a BCE on each plateau's
    # highest logit (one term per P/B/M or rounded vowel), so the head learns to commit somewhere
    # inside every event; false alarms stay the frame-wise term's job.
    w_closure_any: float = 0.0
    w_rounding_any: float = 0.0
    # And every T/D/K/G/CH/JH a "no": their silent closure sounds like a P/B's, and v9/v13 pressed
    # the lips on them (most of the lip press's jitter came from frames away from any P/B/M).
    # A BCE toward 0 on each such stop's highest closure logit.
    w_closure_none: float = 0.0
    # The face that leaves, gates and all, trained to move as smoothly as the teacher's: v13's
    # mouth shook 4x as much as the teacher's (the gates' flicker about half of it), and the
    # model this issue was filed against, a mumble, 10x less. An MSE on second differences of the
    # gated output, so the event logits learn to rise and fall without flicker.
    w_acc: float = 0.0
    # The same on the base face alone (before the event gates), the jaw left out: w_acc on the
    # gated face (v15, v16) slowed the seals and the jaw on short open vowels, while the base
    # regression's own wobble is about half of v13's mouth jitter (docs/model-card.md).
    w_acc_base: float = 0.0
    # Smoothing inside the lookahead (emorig's addition): a fixed causal Hann filter over the
    # decoder's last features, `feature_smoothing` frames each side of its centre. It delays the
    # features by that many frames, so the network trains to be that much earlier; the face
    # still comes out `lookahead` frames after the audio, smooth, with no filter after it to lag
    # (a causal filter on the output, as the bridge's One Euro, puts the face 30 ms behind).
    feature_smoothing: int = 0
    # The same filter on the face that leaves (gates and all), `output_smoothing` frames each side,
    # centred inside the lookahead: everything before it (base face, event logits, gates) is
    # trained and read that many frames earlier, so the smoothed face is on time and the latency
    # is the lookahead's. Why: v13's gates switch in 1-4 frames and most of its jitter was theirs;
    # a zero-phase filter keeps the timing of closures that a causal one (the bridge's) delays.
    output_smoothing: int = 0
    # With output smoothing, whether the closure gate is smoothed too. False: the sealed lips go on
    # after the filter (gate and sealed face delayed to its centre), so a seal stays a seal; v19,
    # which smoothed them, lost 3-8 points of held-out closures for its 26% less jitter.
    smooth_closure: bool = True

    def __post_init__(self):  # JSON gives lists; keep tuples so configs compare equal
        for name in ("frontend_dilations", "motion_channels", "motion_dilations", "tcn_dilations"):
            setattr(self, name, tuple(getattr(self, name)))

    @property
    def n_curves(self) -> int:
        return len(get_space(self.space))

    @property
    def left_context(self) -> int:
        """Past frames (of log-mel) one output depends on: front end + sliding max + decoder + smoothing."""
        tcn = sum((self.tcn_kernel - 1) * d for d in self.tcn_dilations)
        front = sum((self.tcn_kernel - 1) * d for d in self.frontend_dilations)
        return front + (self.saliency_window - 1) + tcn + 2 * (self.feature_smoothing + self.output_smoothing)


def event_peaks(logit: torch.Tensor, on: torch.Tensor) -> torch.Tensor:
    """The highest logit inside each run of consecutive event frames ([B, T] each) -> [runs].

    A run is one event's plateau (one P/B/M, one rounded vowel); runs never join across windows."""
    starts = on & ~F.pad(on[:, :-1], (1, 0), value=False)
    run = torch.cumsum(starts.flatten(), 0) - 1  # which run each frame belongs to (where on)
    inside = on.flatten()
    peaks = logit.new_full((int(starts.sum()),), -torch.inf)
    return peaks.scatter_reduce(0, run[inside], logit.flatten()[inside], "amax")


def lead_labels(label: torch.Tensor, lead: int) -> torch.Tensor:
    """Event labels [B, T] (1 on, 0 off, -1 unknown) with each event starting `lead` frames
    earlier: a frame is on when it or one of the next `lead` frames is."""
    ahead = F.pad(label, (0, lead), value=-1.0).unfold(1, lead + 1, 1).amax(-1)
    return torch.where(label >= 0, torch.maximum(label, ahead.clamp(min=0)), label)


def dynamic_positional_encoding(positions: torch.Tensor, dim: int, horizon: int) -> torch.Tensor:
    """Eq. 2: DPE(t, 2i) = sin(20 pi t/T / 10000^(2i/d)), cos for 2i+1; with t/T -> min(t, H)/H.

    positions: [B, T] absolute frame indices -> [B, T, dim]."""
    rel = positions.clamp(max=horizon).float() / horizon
    freq = 10000.0 ** (-torch.arange(0, dim, 2, device=positions.device).float() / dim)
    angle = 20 * math.pi * rel[..., None] * freq
    pe = torch.zeros(*positions.shape, dim, device=positions.device)
    pe[..., 0::2] = torch.sin(angle)
    pe[..., 1::2] = torch.cos(angle)[..., : dim // 2]
    return pe


def causal_sliding_max(x: torch.Tensor, window: int) -> torch.Tensor:
    """[B, T, C] -> running max over the last `window` frames (fewer at the start)."""
    padded = F.pad(x.transpose(1, 2), (window - 1, 0), value=float("-inf"))
    return F.max_pool1d(padded, window, stride=1).transpose(1, 2)


class MotionEncoder(nn.Module):
    """E_M (Sec. 3.3): 4-layer TCN (ReLU, kernel 3, padding = dilation) + linear, on ground-truth rig.

    Training only (it reads the target), so it keeps the paper's symmetric padding."""

    def __init__(self, cfg: DEITalkConfig):
        super().__init__()
        chans = [cfg.n_curves, *cfg.motion_channels]
        self.convs = nn.ModuleList(
            nn.Conv1d(a, b, 3, padding=d, dilation=d) for a, b, d in zip(chans, chans[1:], cfg.motion_dilations)
        )
        self.proj = nn.Linear(chans[-1], cfg.d_emo)

    def forward(self, rig: torch.Tensor) -> torch.Tensor:
        x = rig.transpose(1, 2)
        for conv in self.convs:
            x = F.relu(conv(x))
        return self.proj(x.transpose(1, 2))


class DEITalk(nn.Module):
    def __init__(self, cfg: DEITalkConfig):
        super().__init__()
        self.cfg = cfg
        n_emotions = len(EMOTIONS)
        self.frontend = MelFrontend(cfg.n_mels, cfg.d_speech, cfg.tcn_kernel, cfg.frontend_dilations)
        if cfg.dei:  # DEI (Sec. 3.3)
            self.speech_emo = nn.Linear(cfg.d_speech, cfg.d_emo)
            self.motion_encoder = MotionEncoder(cfg)
            self.classifier = nn.Sequential(
                nn.Linear(cfg.d_emo, cfg.classifier_hidden), nn.ReLU(), nn.Linear(cfg.classifier_hidden, n_emotions)
            )
        # Style: emotion weights + intensity control -> 16-d E_sty (Sec. 3.4)
        self.style = nn.Linear(n_emotions + 1, cfg.d_style)
        # Emotion-guided TCN decoder (Eq. 7): every layer sees [F_{i-1}, E_sty, E_in].
        cond = cfg.d_style + (cfg.d_emo if cfg.dei else 0)
        chans = [cfg.d_speech] + [cfg.tcn_channels] * len(cfg.tcn_dilations)
        self.decoder = nn.ModuleList(
            CausalConv(a + cond, b, cfg.tcn_kernel, d) for a, b, d in zip(chans, chans[1:], cfg.tcn_dilations)
        )
        self.head = nn.Linear(cfg.tcn_channels, cfg.n_curves)
        for event, (logit, face) in EVENT_HEADS.items():
            if getattr(cfg, f"{event}_head"):
                setattr(self, logit, nn.Linear(cfg.tcn_channels, 1))
                setattr(self, face, nn.Linear(cfg.tcn_channels, cfg.n_curves))
        for key, h in (("smooth", cfg.feature_smoothing), ("out_smooth", cfg.output_smoothing)):
            if h:  # `_smooth(x, key, ...)` reads `<key>_taps`
                taps = torch.hann_window(2 * h + 3, periodic=False)[1:-1]
                self.register_buffer(f"{key}_taps", taps / taps.sum(), persistent=False)
        if cfg.output_smoothing > cfg.lookahead:
            raise ValueError(f"output_smoothing ({cfg.output_smoothing}) must fit in the lookahead ({cfg.lookahead})")
        if cfg.closure_head or cfg.rounding_head:
            self.register_buffer("lip", lip_mask(cfg.space).float(), persistent=False)
        if cfg.w_acc_base:  # every curve but the jaw's
            jaw = get_space(cfg.space).region_mask("jaw")
            self.register_buffer("acc_base_curves", torch.from_numpy(~jaw), persistent=False)
        if cfg.closure_seal:  # the two curves a sealed face sets (ARKit names)
            space = get_space(cfg.space)
            self.jaw_index, self.close_index = space.index("jawOpen"), space.index("mouthClose")

    def events(self) -> list[str]:
        """The event heads this network has, in the order their gates apply."""
        return [e for e in EVENT_HEADS if getattr(self.cfg, f"{e}_head")]

    # -- the causal network -------------------------------------------------------------------
    def forward(self, mel, emotion, intensity, positions, auto: bool = False):
        """Causal pass: output row p depends on mel rows p - left_context .. p only.

        mel [B, T, n_mels] normalised log-mel; emotion [B, 8] weights; intensity [B];
        positions [B, T] absolute frame indices (for DPE). Returns a dict of
        rig [B, T, K], saliency [B, T], emotion_logits [B, T, 8], s_emo [B, T, d_emo]."""
        cfg = self.cfg
        s = self._positions(self.frontend(mel), positions)
        if not cfg.dei:
            return self._decode(s, None, None, emotion, intensity, auto, None)
        s_emo = self.speech_emo(s)
        s_max = causal_sliding_max(s_emo, cfg.saliency_window)  # Eq. 4, causal
        return self._decode(s, s_emo, s_max, emotion, intensity, auto, None)

    def stream(self, mel, emotion, intensity, positions, cache: dict, auto: bool = False):
        """The causal pass for new rows only, as if the rows before them were in `mel`: `cache`
        (a dict of tensors, {} at the start of a stream, updated in place) holds every conv's last
        inputs and the s_emo rows the sliding max still needs. Same results as forward."""
        cfg = self.cfg
        s = self._positions(self.frontend.step(mel, cache), positions)
        if not cfg.dei:
            return self._decode(s, None, None, emotion, intensity, auto, cache)
        s_emo = self.speech_emo(s)
        # The last window-1 rows, -inf before the stream began: a fixed size, so subjects at any
        # point of their streams batch together (step_batch concatenates caches).
        past = cache.get("s_emo")
        if past is None:
            past = s_emo.new_full((s_emo.shape[0], cfg.saliency_window - 1, s_emo.shape[2]), float("-inf"))
        joined = torch.cat([past, s_emo], 1)
        s_max = causal_sliding_max(joined, cfg.saliency_window)[:, -s_emo.shape[1] :]
        cache["s_emo"] = joined[:, joined.shape[1] - (cfg.saliency_window - 1) :]
        return self._decode(s, s_emo, s_max, emotion, intensity, auto, cache)

    def _positions(self, s, positions):
        if not self.cfg.dpe:  # ablation: no positional encoding at all
            return s
        return s + dynamic_positional_encoding(positions, self.cfg.d_speech, self.cfg.dpe_horizon)  # Eq. 3

    def _decode(self, s, s_emo, s_max, emotion, intensity, auto, cache: dict | None):
        if s_emo is not None:
            saliency = F.cosine_similarity(s_emo, s_max, dim=-1)  # Eq. 5
            e_in = saliency[..., None] * s_emo  # Eq. 6
            logits = self.classifier(s_max)
        else:  # ablation without DEI: no saliency, no emotion estimate (auto = an even blend)
            saliency = s.new_ones(s.shape[:2])
            logits = s.new_zeros(*s.shape[:2], len(EMOTIONS))
        if auto:  # emotion from the speech: the classifier's probabilities drive the style
            emotion_t = logits.softmax(-1)
        else:
            emotion_t = emotion[:, None, :].expand(-1, s.shape[1], -1)
        inten_t = intensity[:, None, None].expand(-1, s.shape[1], 1)
        e_sty = self.style(torch.cat([emotion_t, inten_t], -1))
        cond = (torch.cat([e_sty, e_in], -1) if self.cfg.dei else e_sty).transpose(1, 2)
        x = s.transpose(1, 2)
        for i, conv in enumerate(self.decoder):  # Eq. 7: fusion at every layer
            inp = torch.cat([x, cond], 1)
            if cache is None:
                x = F.relu(conv(inp))
            else:
                y, cache[f"dec{i}"] = conv.step(inp, cache.get(f"dec{i}"))
                x = F.relu(y)
        x = self._smooth(x.transpose(1, 2), "smooth", self.cfg.feature_smoothing, cache)
        rig = self.head(x)
        out = {"saliency": saliency, "emotion_logits": logits}
        if s_emo is not None:
            out["s_emo"] = s_emo
        if self.events():
            out["rig_base"] = rig
        h, sealed = self.cfg.output_smoothing, None
        for event in self.events():  # rounding first, then closure: the later gate wins
            logit_layer, face_layer = EVENT_HEADS[event]
            logit = getattr(self, logit_layer)(x)[..., 0]
            face = getattr(self, face_layer)(x)
            threshold = getattr(self.cfg, f"{event}_threshold")
            half = math.log(threshold / (1 - threshold))
            gate = torch.sigmoid(getattr(self.cfg, f"{event}_sharpness") * (logit - half))
            out[EVENT_FACE[event]] = face  # the head as trained (the loss reads it)
            gate = self._hold(event, gate, cache)
            if event == "closure":
                gate, face = self._attack(gate, cache), self._seal(face)
            out.update({f"{event}_logit": logit, f"{event}_gate": gate})
            if event == "closure" and h and not self.cfg.smooth_closure:
                sealed = gate, face  # applied after the filter, below
                continue
            rig = rig + gate[..., None] * self.lip * (face - rig)
        rig = self._smooth(rig, "out_smooth", h, cache)
        if sealed is not None:  # the filter's output is h frames behind its input: so are these
            gate = self._with_past("seal_gate", sealed[0], h, cache)[:, : rig.shape[1]]
            face = self._with_past("seal_face", sealed[1], h, cache)[:, : rig.shape[1]]
            rig = rig + gate[..., None] * self.lip * (face - rig)
        out["rig"] = rig
        return out

    def _hold(self, event: str, gate, cache: dict | None):
        """An event gate held at its peak `<event>_hold` frames, then eased off linearly over
        `<event>_release` frames (DEITalkConfig.closure_hold / closure_release)."""
        hold, release = getattr(self.cfg, f"{event}_hold"), getattr(self.cfg, f"{event}_release")
        k = hold + release
        if not k:
            return gate
        joined = self._with_past(f"{event}_hold", gate, k, cache)
        # Each of the last k frames' gate, lowered by how long ago it was past the hold.
        ago = torch.arange(k, -1, -1, device=gate.device, dtype=gate.dtype)
        drop = (ago - hold).clamp(min=0) / (release + 1)
        return (joined.unfold(1, k + 1, 1) - drop).amax(-1).clamp(min=0)

    @staticmethod
    def _with_past(key: str, gate, k: int, cache: dict | None):
        """A gate [B, T] (or rows [B, T, K]) with the k frames before it in front (zeros at a stream's start; a
        stream keeps its last k frames under `key`, so streaming equals offline)."""
        past = None if cache is None else cache.get(key)
        if past is None:
            past = gate.new_zeros(gate.shape[0], k, *gate.shape[2:])
        joined = torch.cat([past, gate], 1)
        if cache is not None:
            cache[key] = joined[:, joined.shape[1] - k :]
        return joined

    def _attack(self, gate, cache: dict | None):
        """The closure gate rising at most 1/(closure_attack+1) a frame: the least, over the last
        `closure_attack` frames j, of that frame's gate plus j steps (a falling gate is untouched)."""
        a = self.cfg.closure_attack
        if not a:
            return gate
        joined = self._with_past("closure_attack", gate, a, cache)
        steps = torch.arange(a, -1, -1, device=gate.device, dtype=gate.dtype) / (a + 1)
        return (joined.unfold(1, a + 1, 1) + steps).amin(-1).clamp(max=1)

    def _seal(self, face):
        """The closure face with its lips touching (DEITalkConfig.closure_seal)."""
        if not self.cfg.closure_seal:
            return face
        jaw = face[..., self.jaw_index].clamp(0, self.cfg.seal_jaw)
        close = torch.maximum(face[..., self.close_index], jaw)
        face = face.clone()
        face[..., self.jaw_index], face[..., self.close_index] = jaw, close
        return face

    def _smooth(self, x, key: str, h: int, cache: dict | None):
        """The causal Hann filter (2h+1 taps) on rows [B, T, C]; before the first row, the first row
        (a stream's cache holds the last 2h rows under `key`, so streaming equals offline)."""
        if not h:
            return x
        past = None if cache is None else cache.get(key)
        if past is None:
            past = x[:, :1].expand(-1, 2 * h, -1)
        joined = torch.cat([past, x], 1)
        if cache is not None:
            cache[key] = joined[:, joined.shape[1] - 2 * h :]
        return joined.unfold(1, 2 * h + 1, 1) @ getattr(self, f"{key}_taps")  # [B, T, C, 2h+1] @ [2h+1]

    def predict(self, mel, emotion, intensity, silence_mel: float, auto: bool = False):
        # With output smoothing the smoothed face is on time and what feeds it `output_smoothing`
        # frames earlier (the filter's centre): the losses read each at its own time.
        h = self.cfg.output_smoothing
        return predict_aligned(self, mel, emotion, intensity, silence_mel, auto, early=h, on_time=("rig",))

    # -- training -----------------------------------------------------------------------------
    stages = ("main",)

    def stage_parameters(self, stage: str):
        return self.parameters()

    def loss(self, batch: dict, stage: str = "main"):
        """Eq. 8 on a batch of windows (keys: see training/models/__init__.py; emotion, one-hot or
        soft, is also the style input). Returns (total, parts dict)."""
        cfg = self.cfg
        mel, target, emotion = batch["mel"], batch["target"], batch["emotion"]
        out = self.predict(mel, emotion, batch["intensity"], batch["silence_mel"])
        # The paper's losses train the base output; the closure head's gate is trained on its own.
        rig = out.get("rig_base", out["rig"])
        pos = ((rig - target) ** 2).sum(-1).mean()  # Eq. 12
        vel = velocity_loss(rig, target)  # Eq. 13
        total = cfg.w_pos * pos + cfg.w_vel * vel
        parts = {"pos": pos, "vel": vel}
        if cfg.dei:
            s_max = out["s_emo"].amax(1)  # Eq. 4 over the window
            m_max = self.motion_encoder(target).amax(1)
            sim = F.normalize(s_max, dim=-1) @ F.normalize(m_max, dim=-1).T / cfg.tau  # Eq. 9
            labels = torch.arange(len(sim), device=sim.device)
            parts["con"] = 0.5 * (F.cross_entropy(sim, labels) + F.cross_entropy(sim.T, labels))  # Eq. 10
            parts["cla"] = F.cross_entropy(self.classifier(s_max), emotion)  # Eq. 11 (soft labels allowed)
            total = total + cfg.w_con * parts["con"] + cfg.w_cla * parts["cla"]
        for event in self.events():
            if event not in batch:
                continue
            label, face = batch[event], EVENT_FACE[event]
            known, on = label >= 0, label > 0.5
            if event == "closure" and cfg.closure_lead:
                label = lead_labels(label, cfg.closure_lead)  # the logit's target only; the face keeps `on`
            if bool(known.any()):
                parts[event] = F.binary_cross_entropy_with_logits(out[f"{event}_logit"][known], label[known])
                total = total + getattr(cfg, f"w_{event}") * parts[event]
            if bool(on.any()) and getattr(cfg, f"w_{event}_any"):
                peaks = event_peaks(out[f"{event}_logit"], label > 0.5)
                parts[f"{event}_any"] = F.binary_cross_entropy_with_logits(peaks, torch.ones_like(peaks))
                total = total + getattr(cfg, f"w_{event}_any") * parts[f"{event}_any"]
            if bool(on.any()):  # the event's face is trained only where the event happens
                err = (out[face] - target) ** 2 * self.lip
                parts[face] = err[on].sum(-1).mean()
                total = total + getattr(cfg, f"w_{face}") * parts[face]
        if cfg.w_acc:
            parts["acc"] = acceleration_loss(out["rig"], target)
            total = total + cfg.w_acc * parts["acc"]
        if cfg.w_acc_base:
            keep = self.acc_base_curves
            parts["acc_base"] = acceleration_loss(rig[..., keep], target[..., keep])
            total = total + cfg.w_acc_base * parts["acc_base"]
        stops = batch.get("stops")
        if cfg.w_closure_none and "closure_logit" in out and stops is not None and bool((stops > 0.5).any()):
            peaks = event_peaks(out["closure_logit"], stops > 0.5)
            parts["closure_none"] = F.binary_cross_entropy_with_logits(peaks, torch.zeros_like(peaks))
            total = total + cfg.w_closure_none * parts["closure_none"]
        return total, {k: v.detach() for k, v in parts.items()}

    @torch.no_grad()
    def calibrate(self, batches) -> dict:
        """Fit each event head's threshold on held-out batches (with its labels): the probability
        that best separates event frames from the rest (F1). Returns what it fitted ({} if nothing)."""
        batches = list(batches)
        fitted = {}
        for event in self.events():
            probs, labels = [], []
            for b in batches:
                if event not in b:
                    continue
                logit = self.predict(b["mel"], b["emotion"], b["intensity"], b["silence_mel"])[f"{event}_logit"]
                label = b[event]
                if event == "closure" and self.cfg.closure_lead:
                    label = lead_labels(label, self.cfg.closure_lead)  # what the logit was trained on
                known = label >= 0
                probs.append(logit.sigmoid()[known])
                labels.append(label[known] > 0.5)
            if not probs or not bool(torch.cat(labels).any()):
                continue
            p, y = torch.cat(probs), torch.cat(labels)
            best = (-1.0, getattr(self.cfg, f"{event}_threshold"))
            # Candidates from the probabilities themselves: an unsure head's scores may all be tiny.
            for t in torch.quantile(p.float(), torch.linspace(0.01, 0.999, 200, device=p.device)).unique().tolist():
                hit = p > t
                tp = float((hit & y).sum())
                f1 = 2 * tp / max(float(hit.sum()) + float(y.sum()), 1.0)
                best = max(best, (f1, t))
            threshold = min(max(best[1], 1e-4), 1 - 1e-4)  # a finite logit
            setattr(self.cfg, f"{event}_threshold", threshold)
            fitted.update({f"{event}_threshold": threshold, f"{event}_f1": best[0]})
        return fitted
