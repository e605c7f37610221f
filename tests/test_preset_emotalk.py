"""The `emotalk` preset (training/models/emotalk.py): the paper's pieces and sizes, its four losses on
pair batches, emotion level and personal style, causality, streaming == offline, checkpoints, and a
short training run where the emotion is audible in the speech.

Tiny configs only (CPU, seconds). The paper-sized defaults are exercised only for construction."""

import json

import numpy as np
import pytest
import soundfile as sf
from conftest import run_emorig

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

from preset_checks import ARKIT, SILENCE, TRAIN_EMOTIONS, VOICE, assert_streaming_equals_offline, emotional_clip, onehot  # noqa: E402  # noqa: E402  # noqa: E402
from preset_checks import pitched_speech as speechlike  # noqa: E402

from bridge.model import Controls  # noqa: E402
from retarget.spaces import get_space  # noqa: E402
from training.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from training.emotions import EMOTIONS  # noqa: E402
from training.inference import TorchFaceModel, load_face_model  # noqa: E402
from training.models import PRESETS  # noqa: E402
from training.models.emotalk import (  # noqa: E402
    EmoTalk,
    EmoTalkConfig,
    causal_sliding_mean,
    periodic_positional_encoding,
)


def tiny(space="arkit", **kw) -> EmoTalkConfig:
    base = dict(
        space=space,
        d_encoder=32,
        content_dilations=(1, 2),
        emotion_dilations=(1, 2, 4),
        d_content=16,
        d_emotion=8,
        d_level=4,
        d_style=4,
        n_speakers=3,
        classifier_hidden=16,
        n_heads=2,
        d_ff=32,
        period=4,
        attn_window=12,
        emotion_window=6,
        cls_window=10,
        lookahead=3,
    )
    return EmoTalkConfig(**(base | kw))


def lively(net: EmoTalk) -> EmoTalk:
    """The head starts at zero (as the paper's release): every output is 0 until trained. Tests that
    look at how inputs move the output give it random weights first."""
    torch.nn.init.normal_(net.head.weight, std=0.3)
    return net


def random_batch(b=4, t=40, k=52, pairs=(True, False, True, False), seed=0):
    g = torch.Generator().manual_seed(seed)
    return dict(
        mel=torch.randn(b, t, 80, generator=g),
        target=torch.rand(b, t, k, generator=g),
        emotion=torch.eye(8)[:b],
        intensity=torch.rand(b, generator=g),
        speaker=torch.tensor([0, 1, -1, 2][:b]),
        silence_mel=SILENCE,
        pair_mel=torch.randn(b, t, 80, generator=g),
        pair_target=torch.rand(b, t, k, generator=g),
        pair_emotion=torch.eye(8)[4 : 4 + b],
        pair_intensity=torch.rand(b, generator=g),
        pair_mask=torch.tensor(pairs),
    )


# -- the paper's pieces ----------------------------------------------------------------------------


def test_paper_defaults_build():
    cfg = EmoTalkConfig()
    assert (cfg.w_cross, cfg.w_self, cfg.w_vel, cfg.w_cls) == (1.0, 1.0, 0.5, 0.1)  # Sec. 3.3
    assert (cfg.d_content, cfg.d_emotion, cfg.d_level, cfg.d_style) == (512, 256, 32, 32)  # Sec. 3.2
    assert cfg.d_model == 832 and cfg.d_encoder == 1024 and cfg.n_heads == 4
    net = EmoTalk(cfg)
    assert net.content_encoder is not net.emotion_encoder  # two separate latent spaces (Sec. 3.1)
    assert net.content_map.out_features == 512 and net.emotion_map.out_features == 832
    assert net.emotion_feature.out_features == 256 and net.level.in_features == 2
    assert net.style.num_embeddings == 24 + 1  # RAVDESS's 24 actors + 'unknown'
    assert len(net.layers) == 1 and net.layers[0].self_attn.period == cfg.period
    assert net.head.out_features == 52 and not net.head.weight.any()
    assert EmoTalkConfig(**json.loads(json.dumps(cfg.__dict__))) == cfg  # configs round-trip through JSON


@pytest.mark.parametrize("space", ["arkit", "metahuman"])
def test_forward_shapes_and_the_four_losses(space):
    k = len(get_space(space))
    net = EmoTalk(tiny(space))
    out = net.predict(torch.randn(2, 30, 80), torch.eye(8)[:2], torch.ones(2), SILENCE)
    assert set(out) == {"rig", "emotion_logits"}
    assert out["rig"].shape == (2, 30, k) and out["emotion_logits"].shape == (2, 30, 8)
    loss, parts = net.loss(random_batch(k=k))
    assert torch.isfinite(loss) and set(parts) == {"cross", "self", "vel", "cls"}
    w = net.cfg
    expect = w.w_cross * parts["cross"] + w.w_self * parts["self"] + w.w_vel * parts["vel"] + w.w_cls * parts["cls"]
    assert torch.allclose(loss.detach(), expect)
    loss.backward()
    assert all(p.grad is not None for n, p in net.named_parameters()), "every parameter takes part"


def test_periodic_positional_encoding_repeats_every_period():
    pos = torch.arange(40)[None]
    pe = periodic_positional_encoding(pos, 16, period=8)
    assert pe.shape == (1, 40, 16)
    assert torch.allclose(pe[:, :8], pe[:, 8:16]) and torch.allclose(pe[:, :8], pe[:, 32:40])
    assert not torch.allclose(pe[:, 0], pe[:, 1])
    odd = periodic_positional_encoding(pos, 15, period=8)  # odd widths work too
    assert odd.shape == (1, 40, 15)


def test_causal_sliding_mean_matches_a_loop():
    x = torch.randn(2, 17, 3)
    got = causal_sliding_mean(x, 5)
    for t in range(17):
        assert torch.allclose(got[:, t], x[:, max(0, t - 4) : t + 1].mean(1), atol=1e-6)


def test_self_attention_has_the_periodic_alibi_bias():
    from training.models.blocks import alibi_causal_bias

    cfg = tiny()
    bias = alibi_causal_bias(cfg.n_heads, 20, 20, cfg.attn_window, cfg.period)
    row = bias[0, 19]  # the last query: 0 for the current period, -slope per period further back
    assert row[19] == 0 and row[19 - cfg.period + 1] == 0 and row[19 - cfg.period] < 0
    assert torch.isinf(row[19 - cfg.attn_window])  # outside the window


# -- causality and streaming -------------------------------------------------------------------------


@pytest.mark.parametrize("auto", [False, True])
def test_a_frame_depends_on_exactly_its_window(auto):
    torch.manual_seed(0)
    net = lively(EmoTalk(tiny())).eval()
    ctx = net.cfg.left_context
    mel = torch.randn(1, 120, 80)
    pos = torch.arange(120)[None]
    changed = mel.clone()
    q = 30
    changed[:, q] += 2.0
    with torch.no_grad():
        a = net(mel, torch.eye(8)[1:2], torch.ones(1), pos, auto=auto)
        b = net(changed, torch.eye(8)[1:2], torch.ones(1), pos, auto=auto)
    for key in ("rig", "emotion_logits"):
        diff = (a[key] - b[key]).abs().amax(-1)[0]
        assert diff[:q].max() == 0 and diff[q + ctx + 1 :].max() == 0, key
    rig_diff = (a["rig"] - b["rig"]).abs().amax(-1)[0]
    if auto:  # the bound is tight: auto mode reaches the whole left context
        assert rig_diff[q + ctx] > 0
    # ...and a pass over only the window gives the same last row (a bounded history suffices).
    p = 110
    with torch.no_grad():
        w = net(mel[:, p - ctx : p + 1], torch.eye(8)[1:2], torch.ones(1), pos[:, p - ctx : p + 1], auto=auto)
    assert torch.allclose(w["rig"][:, -1], a["rig"][:, p], atol=1e-5)


@pytest.mark.parametrize("auto", [False, True])
def test_stream_equals_forward_in_random_chunks(auto):
    """`stream` (cached activations, new rows only) against the whole-sequence causal pass, for two
    subjects with different speakers; the cache keeps a fixed size."""
    torch.manual_seed(11)
    net = lively(EmoTalk(tiny(n_layers=2))).eval()
    mel, pos = torch.randn(2, 90, 80), torch.arange(90).expand(2, -1)
    emo, k, who = torch.eye(8)[[1, 3]], torch.tensor([0.3, 1.0]), torch.tensor([2, -1])
    with torch.no_grad():
        ref = net(mel, emo, k, pos, auto=auto, speaker=who)
        cache, parts, i, shapes = {}, [], 0, None
        rng = np.random.default_rng(0)
        while i < 90:
            n = int(rng.integers(1, 15))
            parts.append(net.stream(mel[:, i : i + n], emo, k, pos[:, i : i + n], cache, auto=auto, speaker=who))
            shapes = shapes or {name: v.shape for name, v in cache.items()}
            assert {name: v.shape for name, v in cache.items()} == shapes
            i += n
    for key in ("rig", "emotion_logits"):
        torch.testing.assert_close(torch.cat([p[key] for p in parts], 1), ref[key], atol=1e-5, rtol=1e-4)


def test_step_batch_matches_step_for_streams_at_different_points():
    torch.manual_seed(12)
    model = TorchFaceModel(lively(EmoTalk(tiny())), name="emotalk")
    audios = [speechlike(0.8, seed=s) for s in (1, 2)]
    ctl = [Controls(emotion=onehot("sad")), Controls(emotion=onehot("angry"), intensity=1.0)]
    single = [model.new_state() for _ in audios]
    batch = [model.new_state() for _ in audios]
    lead = model.step(single[0], audios[0][:1600], ctl[0])  # subject 0 starts a block earlier
    np.testing.assert_allclose(model.step(batch[0], audios[0][:1600], ctl[0]).frames, lead.frames)
    for i in range(0, 8000, 1600):
        blocks = [audios[0][1600 + i : 3200 + i], audios[1][i : i + 1600]]
        ref = [model.step(s, b, c) for s, b, c in zip(single, blocks, ctl)]
        got = model.step_batch(batch, blocks, ctl)
        for r, g in zip(ref, got):
            np.testing.assert_allclose(g.frames, r.frames, atol=1e-5)
            np.testing.assert_allclose(g.times, r.times)


def test_streaming_equals_offline_for_random_blocks():
    torch.manual_seed(1)
    model = TorchFaceModel(lively(EmoTalk(tiny())), name="emotalk")
    audio = speechlike(1.2, seed=3)
    for auto in (False, True):
        controls = Controls(emotion=onehot("happy"), intensity=0.8, auto=auto)
        offline, _ = assert_streaming_equals_offline(model, audio, controls)
        assert np.allclose(offline.intensity, 0.8)  # no saliency: the user's level


# -- the losses on pair batches ----------------------------------------------------------------------


def test_without_pairs_the_cross_term_is_zero_and_pair_data_is_ignored():
    torch.manual_seed(2)
    net = EmoTalk(tiny(dropout=0.0)).eval()
    batch = random_batch(pairs=(False,) * 4)
    loss, parts = net.loss(batch)
    assert parts["cross"] == 0
    other = batch | dict(pair_mel=torch.randn(4, 40, 80), pair_target=torch.rand(4, 40, 52))
    assert torch.equal(net.loss(other)[0], loss)
    bare = {k: v for k, v in batch.items() if not k.startswith("pair_")}  # data with no pairs at all
    assert torch.equal(net.loss(bare)[0], loss)


def test_only_rows_with_a_pair_feed_the_cross_term():
    torch.manual_seed(3)
    net = lively(EmoTalk(tiny(dropout=0.0))).eval()
    batch = random_batch(pairs=(True, False, True, False))
    _, parts = net.loss(batch)
    assert parts["cross"] > 0
    noise = batch | dict(pair_mel=batch["pair_mel"].clone(), pair_target=batch["pair_target"].clone())
    noise["pair_mel"][[1, 3]] = torch.randn(2, 40, 80)  # rows without a pair
    noise["pair_target"][[1, 3]] = 0.5
    _, again = net.loss(noise)
    assert all(torch.equal(parts[k], again[k]) for k in parts)
    noise["pair_mel"][0] += 1.0  # a row with one
    assert not torch.equal(net.loss(noise)[1]["cross"], parts["cross"])


def test_a_pair_that_is_the_clip_itself_makes_cross_equal_self():
    """D(E_c(A), E_e(P)) with P = A is the self-reconstruction: the swap is wired, not a copy."""
    torch.manual_seed(4)
    net = lively(EmoTalk(tiny(dropout=0.0))).eval()
    b = random_batch()
    same = b | dict(
        pair_mel=b["mel"], pair_target=b["target"], pair_emotion=b["emotion"], pair_intensity=b["intensity"]
    )
    same["pair_mask"] = torch.ones(4, dtype=torch.bool)
    _, parts = net.loss(same)
    assert torch.allclose(parts["cross"], parts["self"], rtol=1e-5)
    # A different emotion clip changes the cross term but not the self term of the anchors' own rows.
    _, swapped = net.loss(same | dict(pair_emotion=torch.eye(8)[4:8]))
    assert not torch.allclose(swapped["cross"], parts["cross"])


def test_cross_reconstruction_trains_both_encoders():
    torch.manual_seed(5)
    net = lively(EmoTalk(tiny(dropout=0.0, w_self=0.0, w_vel=0.0, w_cls=0.0)))
    loss, _ = net.loss(random_batch())
    loss.backward()
    for enc in (net.content_encoder, net.emotion_encoder):
        assert any(p.grad.abs().sum() > 0 for p in enc.parameters())


def test_classification_supervises_the_emotion_encoder_only():
    torch.manual_seed(6)
    net = EmoTalk(tiny(dropout=0.0, w_cross=0.0, w_self=0.0, w_vel=0.0))
    loss, parts = net.loss(random_batch())
    assert torch.allclose(loss, net.cfg.w_cls * parts["cls"])
    loss.backward()
    assert any(p.grad.abs().sum() > 0 for p in net.emotion_encoder.parameters())
    assert all(p.grad is None or not p.grad.any() for p in net.content_encoder.parameters())


# -- emotion level and personal style ------------------------------------------------------------------


def test_intensity_is_the_emotion_level_one_hot_at_the_ends():
    net = lively(EmoTalk(tiny())).eval()
    mel, pos = torch.randn(2, 20, 80), torch.arange(20).expand(2, -1)
    with torch.no_grad():
        weak = net(mel, torch.eye(8)[:2], torch.zeros(2), pos)["rig"]
        strong = net(mel, torch.eye(8)[:2], torch.ones(2), pos)["rig"]
        f_l = net.level(torch.tensor([[0.0, 1.0]]))
        f_half = net.level(torch.tensor([[0.5, 0.5]]))
    assert not torch.allclose(weak, strong)
    # k = 1 is the paper's 'strong' one-hot [0, 1]; k = 0.5 the midpoint of the two embeddings.
    assert torch.allclose(f_half, 0.5 * (net.level(torch.tensor([[1.0, 0.0]])) + f_l))


def test_speaker_style_with_an_unknown_row():
    torch.manual_seed(7)
    net = lively(EmoTalk(tiny(n_speakers=3))).eval()
    mel, pos, emo, k = torch.randn(3, 20, 80), torch.arange(20).expand(3, -1), torch.eye(8)[:3], torch.ones(3)
    with torch.no_grad():
        default = net(mel, emo, k, pos)["rig"]  # inference: no speaker -> the unknown style
        unknown = net(mel, emo, k, pos, speaker=torch.tensor([-1, -1, -1]))["rig"]
        known = net(mel, emo, k, pos, speaker=torch.tensor([0, 1, 2]))["rig"]
    assert torch.equal(default, unknown)
    assert all(not torch.allclose(known[i], unknown[i]) for i in range(3))
    with pytest.raises(ValueError, match="n_speakers=3"):
        net(mel, emo, k, pos, speaker=torch.tensor([0, 1, 3]))


def test_speaker_dropout_trains_the_unknown_row():
    torch.manual_seed(8)
    batch = random_batch(pairs=(False,) * 4)
    net = lively(EmoTalk(tiny(dropout=0.0, speaker_dropout=1.0))).train()
    anonymous = batch | dict(speaker=torch.full((4,), -1))
    assert torch.equal(net.loss(batch)[0], net.loss(anonymous)[0])  # every row went to 'unknown'
    net.cfg.speaker_dropout = 0.0
    assert not torch.equal(net.loss(batch)[0], net.loss(anonymous)[0])
    net.cfg.speaker_dropout = 1.0
    net.eval()  # never at evaluation
    assert not torch.equal(net.loss(batch)[0], net.loss(anonymous)[0])


def test_the_trainers_speaker_count_grows_the_table(tmp_path):
    torch.manual_seed(9)
    net = EmoTalk(tiny(n_speakers=3))
    before = net.style.weight.detach().clone()
    net.n_speakers_seen = 2  # fewer: unchanged
    assert net.style.num_embeddings == 4
    net.n_speakers_seen = 5
    assert net.cfg.n_speakers == 5 and net.style.num_embeddings == 6
    assert torch.equal(net.style.weight[:3], before[:3]) and torch.equal(net.style.weight[5], before[3])
    folder = save_checkpoint(tmp_path / "ckpt", net, "emotalk")
    loaded, _ = load_checkpoint(folder)
    assert loaded.cfg.n_speakers == 5 and torch.equal(loaded.style.weight, net.style.weight)


# -- checkpoints and the bridge --------------------------------------------------------------------------


def test_registered_and_checkpoint_round_trip(tmp_path):
    assert PRESETS["emotalk"] == (EmoTalk, EmoTalkConfig)
    torch.manual_seed(10)
    net = EmoTalk(tiny("metahuman"))
    folder = save_checkpoint(tmp_path / "ckpt", net, "emotalk", training={"steps": 0})
    doc = json.loads((folder / "config.json").read_text())
    assert doc["preset"] == "emotalk" and doc["space"] == "metahuman"
    loaded, _ = load_checkpoint(folder)
    assert loaded.cfg == net.cfg
    for k, v in net.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k])
    model = load_face_model(folder, "cpu")
    assert model.name == "emotalk" and model.lookahead == pytest.approx(0.0125 + 0.03)


# -- a short training run: emotion audible in the speech ---------------------------------------------------


def emotional_batch(sentences, rng):
    """Every sentence in every training emotion; each clip paired with the same sentence in another."""
    rows = []
    for s in sentences:
        clips = {e: (*emotional_clip(s, e, k := float(rng.uniform(0.5, 1)), 0.6), k) for e in TRAIN_EMOTIONS}
        for e in TRAIN_EMOTIONS:
            p = TRAIN_EMOTIONS[(TRAIN_EMOTIONS.index(e) + int(rng.integers(1, 4))) % 4]
            rows.append((clips[e], e, clips[p], p, s % 3))
    return dict(
        mel=torch.stack([a[0] for a, *_ in rows]),
        target=torch.stack([a[1] for a, *_ in rows]),
        emotion=torch.tensor(np.stack([onehot(e) for _, e, *_ in rows])),
        intensity=torch.tensor([a[2] for a, *_ in rows], dtype=torch.float32),
        speaker=torch.tensor([r[4] for r in rows]),
        silence_mel=SILENCE,
        pair_mel=torch.stack([r[2][0] for r in rows]),
        pair_target=torch.stack([r[2][1] for r in rows]),
        pair_emotion=torch.tensor(np.stack([onehot(r[3]) for r in rows])),
        pair_intensity=torch.tensor([r[2][2] for r in rows], dtype=torch.float32),
        pair_mask=torch.ones(len(rows), dtype=torch.bool),
    )


@pytest.fixture(scope="module")
def trained():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    net = EmoTalk(tiny(d_encoder=48, d_content=24, d_emotion=16, d_ff=64, dropout=0.0))
    batch = emotional_batch(range(6), rng)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    history = []
    for _ in range(160):
        loss, parts = net.loss(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        history.append({"loss": loss.item(), **{k: v.item() for k, v in parts.items()}})
    return net.eval(), history


def test_training_lowers_all_four_losses(trained):
    _, history = trained
    for key in ("loss", "cross", "self", "vel", "cls"):
        first, last = np.mean([h[key] for h in history[:3]]), np.mean([h[key] for h in history[-10:]])
        assert last < 0.6 * first, key


def test_the_emotion_encoder_hears_the_emotion_and_auto_mode_shows_it(trained):
    net, _ = trained
    model = TorchFaceModel(net, name="emotalk")
    hits, smiles = [], {}
    for e in TRAIN_EMOTIONS:  # an unseen sentence
        mel, _ = emotional_clip(99, e, 1.0, 0.6)
        with torch.no_grad():
            logits = net.predict(mel[None], torch.eye(8)[:1], torch.ones(1), SILENCE)["emotion_logits"][0]
        guess = logits[:, [EMOTIONS.index(x) for x in TRAIN_EMOTIONS]].argmax(-1)
        hits.append((guess[20:] == TRAIN_EMOTIONS.index(e)).float().mean().item())  # past the first frames
        audio = speechlike(0.6, seed=99, f0=VOICE[e])
        out = model.offline(audio, Controls(auto=True, intensity=1.0))
        smiles[e] = out.frames[:, ARKIT.index("mouthSmileLeft")].mean()
        assert out.emotion_probs[20:, EMOTIONS.index(e)].mean() > 0.4
    assert np.mean(hits) > 0.75
    assert smiles["happy"] > max(smiles[e] for e in TRAIN_EMOTIONS if e != "happy") + 0.1


def test_content_and_emotion_recombine_across_clips(trained):
    """Fig. 3: the content of one clip with the emotion of another (unseen sentences, auto mode):
    the jaw follows the content clip, the smile the emotion clip."""
    net, _ = trained
    la = net.cfg.lookahead
    mel_a, y_a = emotional_clip(97, "neutral", 1.0, 0.6)
    mel_p, y_p = emotional_clip(96, "happy", 1.0, 0.6)
    with torch.no_grad():
        c_a, e_a, l_a = net._encode_aligned(mel_a[None], SILENCE)
        _, e_p, l_p = net._encode_aligned(mel_p[None], SILENCE)
        pos, style, k = torch.arange(c_a.shape[1])[None], net.speaker_index(None, 1, "cpu"), torch.ones(1)
        cross = net.decode(c_a, e_p, l_p, None, k, style, pos, auto=True)[0, la:]
        own = net.decode(c_a, e_a, l_a, None, k, style, pos, auto=True)[0, la:]
    jaw, smile = ARKIT.index("jawOpen"), ARKIT.index("mouthSmileLeft")
    with_a = np.corrcoef(cross[:, jaw], y_a[:, jaw])[0, 1]
    with_p = np.corrcoef(cross[:, jaw], y_p[:, jaw])[0, 1]
    assert with_a > 0.95 and with_a > with_p + 0.05
    assert cross[:, smile].mean() > own[:, smile].mean() + 0.2


def test_the_user_controls_move_the_output(trained):
    model = TorchFaceModel(trained[0], name="emotalk")
    audio = speechlike(0.6, seed=98, f0=VOICE["neutral"])
    smile, brow = ARKIT.index("mouthSmileLeft"), ARKIT.index("browDownLeft")
    strong = model.offline(audio, Controls(emotion=onehot("happy"), intensity=1.0)).frames
    weak = model.offline(audio, Controls(emotion=onehot("happy"), intensity=0.0)).frames
    angry = model.offline(audio, Controls(emotion=onehot("angry"), intensity=1.0)).frames
    assert strong[:, smile].mean() > weak[:, smile].mean() + 0.05
    assert angry[:, brow].mean() > strong[:, brow].mean() + 0.1


def test_animate_with_an_emotalk_checkpoint_end_to_end(tmp_path, trained):
    folder = save_checkpoint(tmp_path / "ckpt", trained[0], "emotalk")
    wav = tmp_path / "speech.wav"
    sf.write(wav, speechlike(1.0, seed=5), 16000)
    out = tmp_path / "take.csv"
    result = run_emorig("animate", wav, "-o", out, "--model", folder, "--emotion", "sad", "--quiet")
    assert result.returncode == 0, result.stderr
    from retarget.takes import read_take

    take = read_take(out)
    assert len(take.frames) > 10 and np.ptp(take.frames, axis=0).max() > 0
