"""The `emotalker` preset (training/models/emotalker.py): the paper's pieces and sizes, the three stages
and what each trains, the code grid and causality, content tokens by k-means, streaming == offline,
checkpoints, and a short three-stage training run where the user's controls move the face.

Tiny configs only (CPU, seconds). The paper-sized defaults are exercised only for construction and
one short forward pass."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

from preset_checks import (  # noqa: E402  # noqa: E402
    SILENCE,
    assert_causal_up_to_lookahead,
    assert_controls_move_the_face,
    assert_streaming_equals_offline,
    onehot,
    speechlike,
    teacher_batch,
)

from bridge.model import Controls  # noqa: E402
from retarget.spaces import get_space  # noqa: E402
from training.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from training.emotions import EMOTIONS, emotion_overlays  # noqa: E402
from training.inference import TorchFaceModel, load_face_model  # noqa: E402
from training.models import PRESETS  # noqa: E402
from training.models.blocks import alibi_causal_bias, lip_mask  # noqa: E402
from training.models.emotalker import (  # noqa: E402
    EmoTalker,
    EmoTalkerConfig,
    causal_sliding_mean,
    codebook_contrastive_loss,
    content_features,
    kmeans,
)


def tiny(space="arkit", **kw) -> EmoTalkerConfig:
    base = dict(
        space=space,
        codebook_size=64,
        code_dim=16,
        vq_width=16,
        vq_depth=2,
        ema_decay=0.9,  # dead codes are reset within a short run
        n_layers=2,
        n_heads=2,
        d_ff=32,
        attn_window=6,
        d_audio=16,
        emotion_dilations=(1, 2),
        cls_hidden=8,
        cls_window=8,
        n_content=8,
        content_context=2,
        kmeans_iters=10,
        d_lip_audio=16,
        lip_dilations=(1, 2),
        lookahead=3,
    )
    return EmoTalkerConfig(**(base | kw))


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny tensors gain nothing from threads, and on a busy machine OpenMP threads that wait for a
    shared core make each small op hundreds of times slower; the previous setting comes back after."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def registered(monkeypatch):
    """Until the preset is in training.models.PRESETS, put it there for the test."""
    monkeypatch.setitem(PRESETS, "emotalker", (EmoTalker, EmoTalkerConfig))


def random_batch(b=3, t=37, k=52, seed=0):
    g = torch.Generator().manual_seed(seed)
    return dict(
        mel=torch.randn(b, t, 80, generator=g),
        target=torch.rand(b, t, k, generator=g),
        emotion=torch.eye(8)[:b],
        intensity=torch.rand(b, generator=g),
        speaker=torch.full((b,), -1),
        silence_mel=SILENCE,
        prosody=torch.rand(b, t, 3, generator=g),
    )


# -- the paper's pieces ----------------------------------------------------------------------------


def test_paper_defaults_build():
    cfg = EmoTalkerConfig()
    assert (cfg.downsample, cfg.codebook_size, cfg.code_dim, cfg.ema_decay) == (4, 1024, 256, 0.99)  # Sec. 5
    assert (cfg.alibi_period, cfg.n_content, cfg.w_code, cfg.w_contra, cfg.w_vq_cls) == (4, 200, 1, 1, 1)
    assert (cfg.n_layers, cfg.n_heads, cfg.d_ff, cfg.lookahead) == (6, 4, 512, 10)
    assert EmoTalkerConfig(**json.loads(json.dumps(cfg.__dict__))) == cfg  # configs round-trip through JSON
    net = EmoTalker(cfg)
    assert net.stages == ("vqvae", "transformer", "lip")
    assert net.quantizer.codebook.shape == (1024, 256) and net.quantizer.decay == 0.99
    assert net.content_centres.shape == (200, 80 * cfg.content_context)
    assert len(net.layers) == 6 and net.layers[0].self_attn.period == 4
    assert net.lip_map1.out_features == int(lip_mask("arkit").sum())
    n = sum(p.numel() for p in net.parameters())
    assert 30e6 < n < 45e6, n  # ~38 M: VQ-VAE 22 M, audio encoder + Transformer 12 M, lip branch 3 M
    with torch.no_grad():
        f = torch.rand(1, 24, len(net.face_idx))
        assert net.vq_encoder(f).shape == (1, 6, 256)  # l = 4
        out = net.predict(torch.randn(1, 24, 80), torch.eye(8)[1:2], torch.ones(1), SILENCE)
    assert out["rig"].shape == (1, 24, 52) and out["emotion_logits"].shape == (1, 24, 8)


@pytest.mark.parametrize("space", ["arkit", "metahuman", "flame"])
def test_forward_shapes_for_any_rig(space):
    k = len(get_space(space))
    net = EmoTalker(tiny(space))
    out = net.predict(torch.randn(2, 30, 80), torch.eye(8)[:2], torch.ones(2), SILENCE)
    assert set(out) == {"rig", "emotion_logits"}
    assert out["rig"].shape == (2, 30, k) and out["emotion_logits"].shape == (2, 30, 8)
    assert torch.isfinite(out["rig"]).all()
    for stage in net.stages:
        loss, parts = net.loss(random_batch(k=k), stage)
        assert torch.isfinite(loss), stage
        assert all(torch.isfinite(v) for v in parts.values())


def test_each_stage_trains_only_its_own_parameters():
    net = EmoTalker(tiny(dropout=0.0))
    every = {id(p) for p in net.parameters()}
    owned = {stage: {id(p) for p in net.stage_parameters(stage)} for stage in net.stages}
    assert set.union(*owned.values()) == every and sum(map(len, owned.values())) == len(every)  # a partition
    expect = {"vqvae": {"rec", "commit", "cls"}, "transformer": {"code", "contra", "er", "prosody"}, "lip": {"lip"}}
    for stage in net.stages:
        net.zero_grad(set_to_none=True)
        codebook = net.quantizer.codebook.clone()
        loss, parts = net.loss(random_batch(), stage)
        assert set(parts) == expect[stage]
        loss.backward()
        for name, p in net.named_parameters():
            assert (p.grad is not None) == (id(p) in owned[stage]), (stage, name)
        if stage != "vqvae":  # the codebook is frozen after stage 1 (EMA updates only there)
            assert torch.equal(net.quantizer.codebook, codebook)
    with pytest.raises(ValueError, match="unknown stage"):
        net.loss(random_batch(), "main")


def test_the_first_vq_batch_fills_the_codebook_and_eval_never_updates_it():
    net = EmoTalker(tiny())
    batch = random_batch()
    net.eval()
    before = net.quantizer.codebook.clone()
    net.loss(batch, "vqvae")
    assert torch.equal(net.quantizer.codebook, before) and net.codebook_filled == 0
    net.train()
    net.loss(batch, "vqvae")
    assert net.codebook_filled == 1
    with torch.no_grad():
        z = net.vq_encoder(net._face_target(batch["target"])).reshape(-1, 16)
    # every code is one of the first batch's encoder outputs (the EMA step moves them towards their means)
    assert torch.cdist(net.quantizer.codebook, z).min(1).values.max() < torch.cdist(before, z).min(1).values.max()


def test_contrastive_loss_is_softmax_over_cosines_to_every_code():
    g = torch.Generator().manual_seed(0)
    codebook = torch.randn(10, 6, generator=g)
    idx = torch.tensor([[3, 7]])
    right = codebook[idx] * 2.0  # cosine ignores the scale
    wrong = codebook[torch.tensor([[4, 1]])]
    assert codebook_contrastive_loss(right, codebook, idx) < codebook_contrastive_loss(wrong, codebook, idx)
    sims = torch.nn.functional.normalize(right, dim=-1) @ torch.nn.functional.normalize(codebook, dim=-1).T
    expect = -(sims.gather(-1, idx[..., None]).squeeze(-1) - sims.logsumexp(-1)).mean()  # Eq. 9
    assert torch.allclose(codebook_contrastive_loss(right, codebook, idx), expect)


def test_self_attention_has_the_papers_bias_over_a_bounded_window():
    cfg = EmoTalkerConfig()
    bias = alibi_causal_bias(cfg.n_heads, 30, 30, cfg.attn_window, cfg.alibi_period)
    row = bias[0, 29]  # Eq. 5: floor((i - j) / h) steps of the slope, -inf ahead and beyond the window
    assert row[29] == 0 and row[26] == 0 and row[25] < 0 and torch.isinf(row[29 - cfg.attn_window])


def test_causal_sliding_mean_matches_a_loop():
    x = torch.randn(2, 17, 3)
    got = causal_sliding_mean(x, 5)
    for t in range(17):
        assert torch.allclose(got[:, t], x[:, max(0, t - 4) : t + 1].mean(1), atol=1e-6)


# -- the code grid, causality and streaming ---------------------------------------------------------


def test_a_code_reaches_its_own_frames_and_later_ones_only():
    """decode_face puts code j's frames at rows first + l*j .. : a code changes nothing before them."""
    torch.manual_seed(0)
    net = EmoTalker(tiny()).eval()
    ds = net.cfg.downsample
    for first in range(ds):
        z = torch.randn(1, 6, 16)
        base = net.decode_face(z, first, 30)
        for j in range(6):
            moved = z.clone()
            moved[:, j] += 3.0
            diff = (net.decode_face(moved, first, 30) - base).abs().amax(-1)[0]
            assert not diff[: first + ds * j].any() and diff[first + ds * j] > 0


@pytest.mark.parametrize("auto", [False, True])
def test_a_frame_depends_on_a_bounded_past_only(auto):
    torch.manual_seed(0)
    net = EmoTalker(tiny()).eval()
    ctx = net.cfg.left_context
    t = ctx + 80
    mel, pos = torch.randn(1, t, 80), torch.arange(t)[None]
    emo, k = torch.eye(8)[2:3], torch.ones(1)
    with torch.no_grad():
        a = net(mel, emo, k, pos, auto=auto)
        q = 40
        changed = mel.clone()
        changed[:, q] += 2.0
        b = net(changed, emo, k, pos, auto=auto)
        for key in ("rig", "emotion_logits"):
            diff = (a[key] - b[key]).abs().amax(-1)[0]
            assert diff[:q].max() == 0 and diff[q + ctx + 1 :].max() == 0, key
        assert (a["rig"] - b["rig"]).abs().amax(-1)[0, q] > 0
        # ...so a pass over only the last left_context + 1 rows gives the same last row, at every phase
        # of the code grid (what TorchFaceModel does block by block).
        for p in range(t - 4, t):
            w = net(mel[:, p - ctx : p + 1], emo, k, pos[:, p - ctx : p + 1], auto=auto)
            torch.testing.assert_close(w["rig"][:, -1], a["rig"][:, p], atol=1e-5, rtol=1e-4)


def test_network_is_causal_up_to_its_lookahead():
    torch.manual_seed(0)
    assert_causal_up_to_lookahead(EmoTalker(tiny()), SILENCE, exact=True)


def test_a_batch_of_windows_at_different_code_phases_equals_one_by_one():
    torch.manual_seed(4)
    net = EmoTalker(tiny()).eval()
    mel = torch.randn(3, 50, 80)
    pos = torch.stack([torch.arange(50) + s for s in (0, 5, 7)])
    emo, k = torch.eye(8)[[1, 2, 3]], torch.tensor([1.0, 0.5, 0.2])
    with torch.no_grad():
        together = net(mel, emo, k, pos)["rig"]
        for i in range(3):
            alone = net(mel[i : i + 1], emo[i : i + 1], k[i : i + 1], pos[i : i + 1])["rig"]
            torch.testing.assert_close(together[i : i + 1], alone, atol=1e-5, rtol=1e-4)


def test_streaming_equals_offline_for_random_blocks():
    torch.manual_seed(1)
    model = TorchFaceModel(EmoTalker(tiny()), name="emotalker")
    audio = speechlike(1.5, seed=3)
    for auto in (False, True):
        controls = Controls(emotion=onehot("happy"), intensity=0.8, auto=auto)
        assert_streaming_equals_offline(model, audio, controls, atol=1e-4)


def test_step_batch_matches_step_for_streams_at_different_code_phases():
    torch.manual_seed(2)
    model = TorchFaceModel(EmoTalker(tiny()), name="emotalker")
    audios = [speechlike(2.4, seed=s) for s in (1, 2)]
    ctl = [Controls(emotion=onehot("sad")), Controls(emotion=onehot("angry"), intensity=1.0)]
    single = [model.new_state() for _ in audios]
    batch = [model.new_state() for _ in audios]
    lead = model.step(single[0], audios[0][:1600], ctl[0])  # subject 0 is 10 rows ahead: another code phase
    np.testing.assert_allclose(model.step(batch[0], audios[0][:1600], ctl[0]).frames, lead.frames)
    for i in range(0, 36800, 1600):
        blocks = [audios[0][1600 + i : 3200 + i], audios[1][i : i + 1600]]
        ref = [model.step(s, b, c) for s, b, c in zip(single, blocks, ctl)]
        got = model.step_batch(batch, blocks, ctl)
        for r, g in zip(ref, got):
            np.testing.assert_allclose(g.frames, r.frames, atol=1e-5)
            np.testing.assert_allclose(g.times, r.times)


# -- content tokens ----------------------------------------------------------------------------------


def test_kmeans_finds_separated_clusters_and_is_deterministic():
    g = torch.Generator().manual_seed(0)
    means = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    x = torch.cat([m + 0.3 * torch.randn(50, 2, generator=g) for m in means])
    centres = kmeans(x, 3, iters=20, seed=1)
    assert torch.cdist(means, centres).min(1).values.max() < 0.3
    assert torch.equal(centres, kmeans(x, 3, iters=20, seed=1))
    assert kmeans(x[:2], 4).shape == (4, 2)  # fewer points than clusters: duplicates, no error


def test_content_tokens_fit_before_training_and_the_net_runs_either_way():
    torch.manual_seed(5)
    net = EmoTalker(tiny()).eval()
    mel = torch.randn(2, 40, 80)
    with torch.no_grad():
        before = net.predict(mel, torch.eye(8)[:2], torch.ones(2), SILENCE)["rig"]  # fixed-seed centres
    assert torch.equal(net.content_centres, EmoTalker(tiny()).content_centres)
    # Silence and two spectral shapes, each at several loudness levels: loudness must not matter.
    shapes = [torch.full((80,), SILENCE), torch.linspace(-1, 1, 80), torch.cos(torch.linspace(0, 9, 80))]
    rows = [s + level for s in shapes for level in (0.0, 0.5, 1.0)]
    mels = [torch.stack(rows)[None].repeat_interleave(4, 1)]  # [1, 36, 80]
    centres = net.fit_content_tokens(mels).clone()
    assert torch.equal(centres, net.content_centres)
    assert torch.equal(centres, EmoTalker(tiny()).fit_content_tokens(mels))  # deterministic
    tokens = net.content_tokens(torch.stack([s + 0.7 for s in shapes])[:, None].repeat(1, 3, 1))[:, -1]
    assert len(set(tokens.tolist())) == 3  # three shapes, three tokens, whatever their level
    feats = content_features(torch.stack(rows)[None], 2)
    assert torch.allclose(feats[0, 1, :80], feats[0, 2, :80])  # the same shape louder: the same feature
    with torch.no_grad():
        after = net.predict(mel, torch.eye(8)[:2], torch.ones(2), SILENCE)["rig"]
    assert not torch.equal(before, after)


# -- checkpoints -----------------------------------------------------------------------------------


def test_checkpoint_round_trip_keeps_the_centres_and_codebook(tmp_path, registered):
    torch.manual_seed(3)
    net = EmoTalker(tiny("metahuman"))
    net.fit_content_tokens([torch.randn(2, 30, 80)])
    net.loss(random_batch(k=251), "vqvae")  # fills the codebook
    folder = save_checkpoint(tmp_path / "ckpt", net, "emotalker", training={"steps": 1})
    doc = json.loads((folder / "config.json").read_text())
    assert doc["space"] == "metahuman" and doc["preset"] == "emotalker" and doc["lookahead_frames"] == 3
    loaded, _ = load_checkpoint(folder)
    assert isinstance(loaded, EmoTalker) and loaded.cfg == net.cfg
    for k, v in net.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k]), k
    assert "content_centres" in net.state_dict() and loaded.codebook_filled == 1
    model = load_face_model(folder, "cpu")
    assert model.space.name == "metahuman" and model.lookahead == pytest.approx(0.0125 + 0.03)


# -- a short training run ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained():
    """A tiny EmoTalker trained stage by stage, as the trainer does (content tokens first)."""
    torch.manual_seed(0)
    net = EmoTalker(tiny(dropout=0.0))
    mel, y, e, k = teacher_batch(32)
    batch = dict(
        mel=mel, target=y, emotion=e, intensity=k, silence_mel=SILENCE, prosody=torch.zeros(32, len(mel[0]), 3)
    )
    net.fit_content_tokens([mel])
    losses = {}
    for stage, steps in zip(net.stages, (200, 200, 60)):
        opt = torch.optim.Adam(net.stage_parameters(stage), lr=3e-3)
        losses[stage] = []
        for _ in range(steps):
            loss, _ = net.loss(batch, stage)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses[stage].append(loss.item())
    return net.eval(), losses


def test_every_stage_lowers_its_loss(trained):
    _, losses = trained
    for stage, curve in losses.items():
        assert np.isfinite(curve).all(), stage
        assert np.mean(curve[-10:]) < 0.5 * np.mean(curve[:3]), stage


def test_controls_move_the_emotion_region(trained):
    model = TorchFaceModel(trained[0], name="emotalker")
    other = ~lip_mask("arkit").numpy()
    happy = (emotion_overlays()[EMOTIONS.index("happy")] > 0) & other  # cheeks and eyes: the face branch
    assert_controls_move_the_face(model, happy)
