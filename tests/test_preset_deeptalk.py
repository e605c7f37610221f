"""The `deeptalk` preset (training/models/deeptalk.py): the paper's pieces and sizes; DEE's probabilistic
embeddings, GPO and the CSD loss; the causal TH-VQVAE; the generator's Gumbel-softmax path; what each
of the three stages trains and freezes; the inference controls (alpha, temperatures) and the emotion
controls; causality, the exact receptive field, streaming == offline; checkpoints; and a short
three-stage training run on speech whose pitch carries the emotion; the one-VQ-VAE ablation
(hierarchical=False).

Tiny configs only (CPU, seconds). The paper-sized defaults are exercised only for construction."""

import contextlib
import json

import numpy as np
import pytest
import soundfile as sf

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

from preset_checks import (  # noqa: E402  # noqa: E402
    ARKIT,
    SILENCE,
    TRAIN_EMOTIONS,
    VOICE,
    assert_streaming_equals_offline,  # noqa: E402
    emotional_clip,
)
from preset_checks import pitched_speech as speechlike  # noqa: E402

from bridge.model import Controls, ModelOutput  # noqa: E402
from retarget.spaces import get_space  # noqa: E402
from training.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from training.emotions import EMOTIONS  # noqa: E402
from training.inference import TorchFaceModel, load_face_model  # noqa: E402
from training.models import PRESETS  # noqa: E402
from training.models import deeptalk as D  # noqa: E402
from training.models.deeptalk import (  # noqa: E402
    GPO,
    DEEPTalk,
    DEEPTalkConfig,
    csd,
    hashed_gumbel,
    hashed_normal,
    hashed_uniform,
    sliding_gpo,
)


def tiny(space="arkit", **kw) -> DEEPTalkConfig:
    base = dict(
        space=space,
        d_emotion2vec=32,
        d_dee=16,
        dee_heads=2,
        dee_ff=32,
        dee_attn_window=8,
        dee_window=64,
        expr_mlp=(32, 16),
        d_expr=16,
        dee_expr_layers=1,
        dee_expr_ff=32,
        gpo_pe=8,
        gpo_hidden=8,
        bottom_stride=2,
        top_stride=2,
        d_vq=16,
        n_codes_top=16,
        n_codes_bottom=32,
        vq_heads=2,
        vq_ff=16,
        vq_decoder_ff=32,
        vq_window=4,
        vq_top_window=3,
        decoder_window=6,
        ema_decay=0.9,
        d_content=32,
        d_gen=16,
        gen_heads=2,
        gen_ff=32,
        face_window=6,
        predictor_layers=2,
        top_window=3,
        bottom_window=4,
        n_speakers=3,
        tau_steps=200,
        lookahead=3,
    )
    return DEEPTalkConfig(**(base | kw))


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Every tensor here is tiny: on a busy machine several threads spend more time waiting than working."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def registered(monkeypatch):
    """Until the preset is in training.models.PRESETS, put it there for the test."""
    monkeypatch.setitem(PRESETS, "deeptalk", (DEEPTalk, DEEPTalkConfig))


def onehot(label):
    v = np.zeros(len(EMOTIONS), np.float32)
    v[EMOTIONS.index(label)] = 1
    return v


def random_batch(b=4, t=37, k=52, seed=0):
    g = torch.Generator().manual_seed(seed)
    return dict(
        mel=torch.randn(b, t, 80, generator=g),
        target=torch.rand(b, t, k, generator=g),
        emotion=torch.eye(8)[[0, 1, 1, 3][:b]],
        intensity=torch.rand(b, generator=g),
        speaker=torch.tensor([0, 1, -1, 2][:b]),
        silence_mel=SILENCE,
    )


def continuous(net: DEEPTalk) -> DEEPTalk:
    """Codes picked as a softmax mixture instead of an argmax: every input then moves the output a little,
    so tests can see which inputs a frame depends on (an argmax hides small changes)."""
    net._select = lambda logits, codebook, block, level, tau: logits.softmax(-1) @ codebook
    return net


# -- the paper's pieces ----------------------------------------------------------------------------


def test_paper_defaults_build():
    cfg = DEEPTalkConfig()
    assert DEEPTalk.stages == ("dee", "vqvae", "generator")
    assert (cfg.d_dee, cfg.dee_heads, cfg.dee_audio_layers, cfg.dee_expr_layers) == (128, 8, 2, 6)  # supp. DEE
    assert cfg.expr_mlp == (256, 512, 1024, 512, 128) and cfg.d_expr == 512
    assert (cfg.csd_scale, cfg.csd_shift, cfg.vib_beta) == (5.0, 5.0, 1e-6)  # released PCME++ settings
    assert (cfg.n_codes_top, cfg.d_vq, cfg.n_codes_bottom) == (256, 128, 256)  # supp. TH-VQVAE
    assert cfg.top_frames == 16 and cfg.lookahead == 10  # the top code keeps the paper's 6.25 Hz
    assert (cfg.predictor_layers, cfg.d_gen, cfg.gen_heads) == (6, 128, 8)  # supp. DEEPTalk
    assert (cfg.tau_start, cfg.tau_end) == (2.0, 0.1)
    assert (cfg.alpha, cfg.tau_top, cfg.tau_bottom) == (0.0, 0.0, 0.0)  # deterministic by default
    net = DEEPTalk(cfg)
    assert net.vq.q_t.codebook.shape == (256, 128) and net.vq.q_b.codebook.shape == (256, 256)
    assert net.vq.db_head.in_features == 384  # D_b on [upsampled top 128, bottom 256]
    assert len(net.gen.top_layers) == len(net.gen.bottom_layers) == 6
    assert net.gen.top_head.out_features == 256 and net.gen.bottom_head.out_features == 256
    assert len(net.dee.audio.layers) == 2 and len(net.dee.expr.layers) == 6
    assert net.dee.audio.heads.mean_pool.gru.bidirectional and net.dee.audio.heads.mean_pool.d_pe == 32
    assert [m.out_features for m in net.dee.expr.mlp if isinstance(m, torch.nn.Linear)] == [256, 512, 1024, 512, 128]
    assert net.dee.scale.item() == 5.0 and net.dee.shift.item() == 5.0
    assert net.gen.style_id.num_embeddings == 32 + 1  # identities + 'unknown'
    assert DEEPTalkConfig(**json.loads(json.dumps(cfg.__dict__))) == cfg  # configs round-trip through JSON
    with pytest.raises(ValueError, match="alpha"):
        DEEPTalkConfig(alpha=-1)


@pytest.mark.parametrize("space", ["arkit", "metahuman"])
def test_forward_shapes_and_every_stage_loss(space):
    k = len(get_space(space))
    torch.manual_seed(0)
    net = DEEPTalk(tiny(space))
    out = net.predict(torch.randn(2, 30, 80), torch.eye(8)[:2], torch.ones(2), SILENCE)
    assert set(out) == {"rig", "emotion_logits"}
    assert out["rig"].shape == (2, 30, k) and out["emotion_logits"].shape == (2, 30, 8)
    expect = {"dee": {"match", "vib", "proto"}, "vqvae": {"rec", "commit", "top_codes", "bottom_codes"}}
    expect["generator"] = {"rec", "lip", "emo", "tau"}
    c = net.cfg
    for stage in net.stages:
        loss, parts = net.loss(random_batch(k=k), stage)
        assert torch.isfinite(loss) and set(parts) == expect[stage], stage
        if stage == "dee":
            total = parts["match"] + c.vib_beta * parts["vib"] + c.w_proto * parts["proto"]
        elif stage == "vqvae":
            total = c.w_vq_rec * parts["rec"] + c.w_commit * parts["commit"]
        else:
            total = c.w_rec * parts["rec"] + c.w_lip * parts["lip"] + c.w_emo * parts["emo"]
        assert torch.allclose(loss.detach(), total, rtol=1e-5), stage
    with pytest.raises(ValueError, match="unknown stage"):
        net.loss(random_batch(), "main")


def test_each_stage_trains_only_its_own_part_and_all_of_it():
    torch.manual_seed(1)
    net = DEEPTalk(tiny(dropout=0.0))
    own = {"dee": net.dee, "vqvae": net.vq, "generator": net.gen}
    ids = {s: {id(p) for p in net.stage_parameters(s)} for s in net.stages}
    assert all(not (ids[a] & ids[b]) for a in ids for b in ids if a < b), "stages share parameters"
    assert set().union(*ids.values()) == {id(p) for p in net.parameters()}, "a parameter no stage trains"
    for stage in net.stages:
        net.zero_grad(set_to_none=True)
        net.loss(random_batch(), stage)[0].backward()
        for name, p in net.named_parameters():
            mine = id(p) in ids[stage]
            if not mine:  # frozen or another stage's: no gradient at all
                assert p.grad is None or not p.grad.any(), (stage, name)
            else:
                assert p.grad is not None and p.grad.any(), (stage, name)
        assert all(m.training for m in own.values()), "frozen parts are back in training mode"
    with pytest.raises(ValueError, match="unknown stage"):
        net.stage_parameters("main")


def test_a_generator_step_leaves_dee_and_the_motion_prior_untouched():
    """The paper freezes DEE and the TH-VQVAE decoder: their weights, codebooks and EMA statistics."""
    torch.manual_seed(2)
    net = DEEPTalk(tiny()).train()
    net.loss(random_batch(), "vqvae")  # fill the codebooks
    before = {k: v.clone() for k, v in net.state_dict().items() if k.startswith(("dee.", "vq."))}
    gen_before = {k: v.clone() for k, v in net.gen.state_dict().items()}
    opt = torch.optim.Adam(net.stage_parameters("generator"), lr=1e-2)
    for _ in range(3):
        loss, _ = net.loss(random_batch(), "generator")
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = net.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert any(not torch.equal(v, net.gen.state_dict()[k]) for k, v in gen_before.items())
    assert int(net.gen_steps) == 3


def test_the_first_vq_batch_fills_the_codebooks_and_only_training_moves_them():
    torch.manual_seed(3)
    net = DEEPTalk(tiny())
    batch = random_batch()
    net.eval()
    start = net.vq.q_t.codebook.clone()
    net.loss(batch, "vqvae")
    assert torch.equal(net.vq.q_t.codebook, start) and not net.vq.filled.any()
    net.train()
    net.loss(batch, "vqvae")
    assert net.vq.filled.all() and not torch.equal(net.vq.q_t.codebook, start)
    filled = net.vq.q_b.codebook.clone()
    net.loss(batch, "vqvae")  # EMA moves it on
    assert not torch.equal(net.vq.q_b.codebook, filled)


# -- DEE ---------------------------------------------------------------------------------------------


def test_csd_is_the_closed_form_sampled_distance():
    g = torch.Generator().manual_seed(4)
    mu1, lv1, mu2, lv2 = (torch.randn(n, 5, generator=g) for n in (3, 3, 4, 4))
    got = csd(mu1, lv1, mu2, lv2)
    for i in range(3):
        for j in range(4):
            want = ((mu1[i] - mu2[j]) ** 2).sum() + (lv1[i].exp() + lv2[j].exp()).sum()
            assert torch.allclose(got[i, j], want)


def test_dee_loss_is_pcme_matching_with_same_emotion_positives():
    torch.manual_seed(5)
    net = DEEPTalk(tiny(dropout=0.0)).eval()
    batch = random_batch()  # labels neutral, happy, happy, angry
    _, parts = net.loss(batch, "dee")
    with torch.no_grad():
        mu_a, lv_a = net.dee.audio.embed(batch["mel"])
        mu_e, lv_e = net.dee.expr.embed(batch["target"])
    logits = -net.dee.scale * csd(mu_e, lv_e, mu_a, lv_a) + net.dee.shift
    matched = torch.eye(4)
    matched[1, 2] = matched[2, 1] = 1.0  # the two happy clips
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    assert torch.allclose(parts["match"], 2 * bce(logits, matched), rtol=1e-5)
    kl = lambda m, v: -0.5 * (1 + v - m**2 - v.exp()).mean()  # noqa: E731
    assert torch.allclose(parts["vib"], kl(mu_a, lv_a) + kl(mu_e, lv_e), rtol=1e-5)
    assert torch.allclose(mu_a.norm(dim=-1), torch.ones(4)) and torch.allclose(mu_e.norm(dim=-1), torch.ones(4))
    net.cfg.match_by_label = False  # only each clip's own pair
    _, own = net.loss(batch, "dee")
    assert torch.allclose(own["match"], 2 * bce(logits, torch.eye(4)), rtol=1e-5)


def test_gpo_sorts_each_dimension_and_weights_ranks_by_count():
    torch.manual_seed(6)
    gpo = GPO(8, 8)
    x = torch.randn(3, 7, 5)
    with torch.no_grad():
        pooled = gpo(x)
        assert torch.allclose(gpo(x[:, torch.randperm(7)]), pooled, atol=1e-6)  # a set operation
        theta = gpo.weights([7], 7, "cpu")[0]
        ranked = x.sort(1, descending=True).values
        assert torch.allclose(pooled, (ranked * theta[:, None]).sum(1), atol=1e-6)
        table = gpo.table(7, "cpu")
        assert torch.allclose(table.sum(1), torch.ones(7)) and not table.triu(1).any()  # zero past n
        valid = torch.tensor([[True] * 4 + [False] * 3] * 3)  # invalid entries are ignored
        assert torch.allclose(gpo(x, valid), gpo(x[:, :4]), atol=1e-6)
        assert torch.allclose(gpo(x[:, :1]), x[:, 0], atol=1e-6)  # one item is itself
    with torch.enable_grad():  # the hand-run table equals torch's packed GRU
        assert torch.allclose(gpo.weights(list(range(1, 8)), 7, "cpu"), table, atol=1e-6)


def test_the_per_frame_audio_embedding_pools_the_last_window():
    torch.manual_seed(7)
    net = DEEPTalk(tiny(dee_window=10)).eval()
    mel = torch.randn(2, 30, 80)
    with torch.no_grad():
        mu, lv = net.dee.audio.sliding(mel, {}, 10)
        m, v = net.dee.audio.rows(mel, {})
        heads = net.dee.audio.heads
        for t in (0, 4, 9, 20, 29):
            rows = slice(max(0, t - 9), t + 1)
            assert torch.allclose(
                mu[:, t], torch.nn.functional.normalize(heads.mean_pool(m[:, rows]), dim=-1), atol=1e-5
            )
            assert torch.allclose(lv[:, t], heads.var_pool(v[:, rows]), atol=1e-5)
        # a clip no longer than the window: the per-frame embedding of its last frame is the clip's (stage dee)
        short = mel[:, :10]
        whole = net.dee.audio.embed(short)
        last = net.dee.audio.sliding(short, {}, 10)
        assert torch.allclose(whole[0], last[0][:, -1], atol=1e-5) and torch.allclose(
            whole[1], last[1][:, -1], atol=1e-5
        )
        history = torch.cat([m.new_zeros(2, 9, 16), m], 1)  # 9 rows before the stream, marked invalid
        valid = torch.cat([torch.zeros(2, 9, dtype=torch.bool), torch.ones(2, 30, dtype=torch.bool)], 1)
        pooled = sliding_gpo(heads.mean_pool, history, valid, 30, 10)
        assert torch.allclose(torch.nn.functional.normalize(pooled, dim=-1), mu, atol=1e-5)


def test_emotion_logits_match_the_audio_embedding_against_the_prototypes():
    torch.manual_seed(8)
    net = DEEPTalk(tiny()).eval()
    mel = torch.randn(1, 25, 80)
    with torch.no_grad():
        out = net(mel, torch.eye(8)[:1], torch.ones(1), torch.arange(25)[None])
        mu, lv = net.dee.audio.sliding(mel, {}, net.cfg.dee_window)
        p = torch.nn.functional.normalize(net.dee.prototypes, dim=-1)
        want = -net.dee.scale * ((mu[..., None, :] - p) ** 2).sum(-1) - net.dee.scale * lv.exp().sum(-1, keepdim=True)
    assert torch.allclose(out["emotion_logits"], want + net.dee.shift, atol=1e-5)


# -- the emotion controls -------------------------------------------------------------------------------


def test_controls_blend_the_audio_embedding_with_the_emotion_prototype():
    torch.manual_seed(9)
    net = DEEPTalk(tiny()).eval()
    mu = torch.nn.functional.normalize(torch.randn(2, 5, 16), dim=-1)
    lv = torch.randn(2, 5, 16)
    happy, mix = torch.eye(8)[[1, 1]], torch.tensor([[0.5, 0.5, 0, 0, 0, 0, 0, 0]] * 2)
    proto = torch.nn.functional.normalize(net.dee.prototypes, dim=-1)
    with torch.no_grad():
        auto = net.condition(mu, lv, happy, torch.ones(2), auto=True)
        none = net.condition(mu, lv, happy, torch.zeros(2))
        full = net.condition(mu, lv, happy, torch.ones(2))
        half = net.condition(mu, lv, happy, torch.full((2,), 0.5))
        over = net.condition(mu, lv, happy, torch.full((2,), 3.0))
        blend = net.condition(mu, lv, mix, torch.ones(2))
    assert torch.allclose(auto, mu) and torch.allclose(none, mu, atol=1e-6)  # intensity 0: the voice's own
    assert torch.allclose(full, proto[1].expand_as(full), atol=1e-6)  # intensity 1: the chosen emotion
    assert torch.allclose(half, torch.nn.functional.normalize(mu + proto[1], dim=-1), atol=1e-6)
    assert torch.allclose(over, full)  # clipped to 1
    two = torch.nn.functional.normalize(proto[0] + proto[1], dim=-1)
    assert torch.allclose(blend, two.expand_as(blend), atol=1e-6)  # weights mix the prototypes
    net.cfg.alpha = 0.5  # uncertainty: + alpha sigma eps, the same eps for every frame
    with torch.no_grad():
        sampled = net.condition(mu, lv, happy, torch.ones(2), auto=True)
    eps = hashed_normal(net.cfg.sample_seed, 16)
    assert torch.allclose(sampled, mu + 0.5 * torch.exp(0.5 * lv) * eps, atol=1e-6)


# -- TH-VQVAE ----------------------------------------------------------------------------------------


def test_vq_codes_summarise_their_own_block_and_earlier_frames_only():
    torch.manual_seed(10)
    net = DEEPTalk(tiny(dropout=0.0)).eval()
    sb, s = net.cfg.bottom_stride, net.cfg.top_frames
    x = torch.rand(1, 32, 52, requires_grad=True)
    e_t, e_b, _, _ = net.vq.encode(x)  # straight-through: gradients reach the frames
    r_t, r_b = torch.randn(e_t.shape[-1]), torch.randn(e_b.shape[-1])  # (a plain sum of a LayerNorm output is flat)
    for k in range(e_t.shape[1]):
        g = torch.autograd.grad((e_t[0, k] * r_t).sum(), x, retain_graph=True)[0][0].abs().sum(-1)
        assert not g[s * (k + 1) :].any() and g[s * k : s * (k + 1)].any()
    for j in range(e_b.shape[1]):  # a bottom code also sees its top code's block (Eq. 12)
        g = torch.autograd.grad((e_b[0, j] * r_b).sum(), x, retain_graph=True)[0][0].abs().sum(-1)
        end = s * (j * sb // s + 1)
        assert not g[end:].any() and g[sb * j : sb * (j + 1)].any()


def test_vq_decoder_builds_a_frame_from_codes_that_have_started():
    torch.manual_seed(11)
    net = DEEPTalk(tiny(dropout=0.0)).eval()
    sb, s, w = net.cfg.bottom_stride, net.cfg.top_frames, net.cfg.decoder_window
    e_t = torch.randn(1, 4, 16, requires_grad=True)  # 4 top codes = 16 frames = 8 bottom codes
    e_b = torch.randn(1, 8, 32, requires_grad=True)
    rig = net.vq.decode(e_t, e_b)
    assert rig.shape == (1, 16, 52)
    for f in (0, 5, 9, 15):
        g_t, g_b = torch.autograd.grad(rig[0, f].sum(), (e_t, e_b), retain_graph=True)
        bottom = g_b[0].abs().sum(-1).nonzero().flatten()
        top = g_t[0].abs().sum(-1).nonzero().flatten()
        assert bottom.max() == f // sb and bottom.min() == max(0, f - w + 1) // sb  # bounded past
        assert top.max() == f // s


@pytest.mark.parametrize("hierarchical", [True, False])
def test_the_generator_path_decodes_exactly_what_the_vqvae_decodes(hierarchical):
    """The generator's grid bookkeeping (codes read at rows, the lookahead shift, codes carried between
    calls) gives the same frames as decoding its chosen codes from frame 0 with the VQ-VAE."""
    torch.manual_seed(12)
    net = DEEPTalk(tiny(hierarchical=hierarchical)).eval()
    chosen = {0: {}, 1: {}}

    def spy(logits, codebook, block, level, tau):
        idx = logits.argmax(-1)
        chosen[level].update(zip(block[0].tolist(), idx[0].tolist()))
        return torch.nn.functional.embedding(idx, codebook)

    net._select = spy
    t, la = 48, net.cfg.lookahead
    with torch.no_grad():
        rig = net(torch.randn(1, t + la, 80), torch.eye(8)[:1], torch.ones(1), torch.arange(t + la)[None])["rig"]
        emb = torch.nn.functional.embedding
        if hierarchical:
            top = torch.tensor([[chosen[0][k] for k in range(t // net.cfg.top_frames)]])
            e_t = emb(top, net.vq.q_t.codebook)
        else:  # the ablation: zeros in place of the top codes
            e_t = torch.zeros(1, t // net.cfg.top_frames, net.cfg.d_vq)
        bottom = torch.tensor([[chosen[1][j] for j in range(t // net.cfg.bottom_stride)]])
        ref = net.vq.decode(e_t, emb(bottom, net.vq.q_b.codebook))
    assert bool(chosen[0]) == hierarchical  # the ablation predicts no top codes
    assert min(chosen[1]) < 0  # a code before frame 0 was read (and ignored)
    assert torch.allclose(rig[:, la:], ref, atol=1e-5)


# -- code selection: Gumbel-softmax in training, argmax or hashed samples at inference ---------------------


def test_tau_falls_linearly_with_generator_steps_in_training_only():
    net = DEEPTalk(tiny(tau_steps=10))
    assert net.tau() == 2.0
    net.gen_steps.fill_(5)
    assert net.tau() == pytest.approx(2.0 + 0.5 * (0.1 - 2.0))
    net.gen_steps.fill_(50)
    assert net.tau() == pytest.approx(0.1)
    net.gen_steps.zero_()
    net.eval()
    _, parts = net.loss(random_batch(), "generator")
    assert int(net.gen_steps) == 0 and parts["tau"] == 0  # evaluation picks codes as inference does
    net.train()
    _, parts = net.loss(random_batch(), "generator")
    assert int(net.gen_steps) == 1 and parts["tau"] == pytest.approx(2.0)


def test_hashed_noise_is_fixed_and_well_spread():
    u = hashed_uniform(3, 1, torch.arange(20000))
    assert torch.equal(u, hashed_uniform(3, 1, torch.arange(20000)))
    assert 0 < u.min() and u.max() < 1 and abs(u.mean() - 0.5) < 0.01 and abs(u.std() - 0.2887) < 0.01
    assert not torch.equal(u, hashed_uniform(4, 1, torch.arange(20000)))
    g = hashed_gumbel(0, 0, torch.arange(200), 100)
    assert g.shape == (200, 100) and abs(g.mean() - 0.5772) < 0.03
    n = hashed_normal(0, 20000)
    assert abs(n.mean()) < 0.03 and abs(n.std() - 1) < 0.03


def test_default_inference_is_deterministic_and_the_controls_sample_repeatably():
    torch.manual_seed(13)
    net = DEEPTalk(tiny()).eval()
    for p in (net.gen.top_head, net.gen.bottom_head):  # flatter logits, so samples differ from argmax
        torch.nn.init.normal_(p.weight, std=0.01)
    mel, e, k = torch.randn(1, 60, 80), torch.eye(8)[1:2], torch.tensor([0.6])

    def run(**kw):
        for name, value in kw.items():
            setattr(net.cfg, name, value)
        with torch.no_grad():
            out = net.predict(mel, e, k, SILENCE)["rig"]
        for name in kw:
            setattr(net.cfg, name, getattr(DEEPTalkConfig(), name))
        return out

    base = run()
    assert torch.equal(base, run())
    for kw in (dict(tau_top=1.0), dict(tau_bottom=1.0), dict(alpha=2.0)):
        a, b = run(**kw), run(**kw)
        assert torch.equal(a, b), kw  # a fixed seed: the same face every time
        assert not torch.allclose(a, base), kw
        assert not torch.allclose(run(**kw, sample_seed=1), a), kw


# -- causality, receptive field, streaming --------------------------------------------------------------


def test_network_is_causal_up_to_its_lookahead():
    torch.manual_seed(14)
    net = continuous(DEEPTalk(tiny())).eval()
    mel = torch.randn(1, 60, 80)
    changed = mel.clone()
    changed[:, 40:] += 1.0
    with torch.no_grad():
        a = net.predict(mel, torch.eye(8)[:1], torch.ones(1), SILENCE)
        b = net.predict(changed, torch.eye(8)[:1], torch.ones(1), SILENCE)
    la, sb = net.cfg.lookahead, net.cfg.bottom_stride
    for key in ("rig", "emotion_logits"):
        assert torch.allclose(a[key][:, : 40 - la], b[key][:, : 40 - la])
    assert not torch.allclose(a["emotion_logits"][:, 40 - la], b["emotion_logits"][:, 40 - la])
    # the face hears row 40 at the next row that reads a code: a code is read at its first frame + lookahead
    assert not torch.allclose(a["rig"][:, 40 - la : 40 - la + sb], b["rig"][:, 40 - la : 40 - la + sb])


@pytest.mark.parametrize("hierarchical", [True, False])
def test_left_context_is_the_exact_receptive_field(monkeypatch, hierarchical):
    """Gradients in float64 (structural zeros are exact): the oldest log-mel row any output row depends on
    is left_context rows back at the grid phase that reaches furthest, never more."""
    torch.manual_seed(15)
    net = continuous(DEEPTalk(tiny(hierarchical=hierarchical))).eval().double()
    cfg = net.cfg
    t = cfg.left_context + 2 * cfg.top_frames + 10
    mel = torch.randn(1, t, 80, dtype=torch.float64, requires_grad=True)
    e, k = torch.eye(8, dtype=torch.float64)[1:2], torch.tensor([0.5], dtype=torch.float64)
    with monkeypatch.context() as patch:
        patch.setattr(D.torch, "no_grad", contextlib.nullcontext)  # let gradients through DEE for this probe
        out = net(mel, e, k, torch.arange(t)[None])
    reach = []
    for p in range(t - cfg.top_frames, t):
        g = torch.autograd.grad(out["rig"][0, p].sum(), mel, retain_graph=True)[0][0]
        reach.append(p - int(g.abs().sum(-1).nonzero().min()))
    assert max(reach) == cfg.left_context and min(reach) < cfg.left_context


def test_a_window_of_left_context_rows_gives_the_offline_output():
    """The bridge's path for networks without `stream`: re-run the last left_context rows every block."""
    torch.manual_seed(16)
    net = continuous(DEEPTalk(tiny())).eval()

    class NoStream(torch.nn.Module):  # the same network, seen without its stream method
        def __init__(self, inner):
            super().__init__()
            self.inner, self.cfg = inner, inner.cfg

        def forward(self, *a, **kw):
            return self.inner(*a, **kw)

        def predict(self, *a, **kw):
            return self.inner.predict(*a, **kw)

    model = TorchFaceModel(NoStream(net), name="deeptalk")
    assert model.context == net.cfg.left_context
    audio = speechlike(2.0, seed=4)
    controls = Controls(emotion=onehot("sad"), intensity=0.7)
    offline = model.offline(audio, controls)
    state, parts = model.new_state(), []
    for i in range(0, len(audio), 1600):
        parts.append(model.step(state, audio[i : i + 1600], controls))
    parts.append(model.flush(state, controls))
    np.testing.assert_allclose(ModelOutput.concat(parts).frames, offline.frames, atol=1e-5)


@pytest.mark.parametrize("sampling", [{}, {"alpha": 0.7, "tau_top": 0.8, "tau_bottom": 0.5}])
def test_streaming_equals_offline_for_random_blocks(sampling):
    torch.manual_seed(17)
    model = TorchFaceModel(DEEPTalk(tiny(**sampling)), name="deeptalk")
    audio = speechlike(1.5, seed=3)
    for auto in (False, True):
        controls = Controls(emotion=onehot("happy"), intensity=0.8, auto=auto)
        offline = model.offline(audio, controls)
        assert len(offline) == (len(audio) - 1) // 160 + 1
        rng = np.random.default_rng(7)
        state, parts, i, sizes = model.new_state(), [], 0, None
        while i < len(audio):
            n = int(rng.integers(1, 2500))
            parts.append(model.step(state, audio[i : i + n], controls))
            i += n
            if state.cache is not None:  # fixed-size state: the same tensors whatever the stream's length
                now = {k: tuple(v.shape) for k, v in state.cache.items()}
                assert sizes is None or now == sizes
                sizes = now
        parts.append(model.flush(state, controls))
        stream = ModelOutput.concat(parts)
        np.testing.assert_allclose(stream.times, offline.times)
        np.testing.assert_allclose(stream.frames, offline.frames, atol=1e-5)
        np.testing.assert_allclose(stream.emotion_probs, offline.emotion_probs, atol=1e-5)
        assert len(state.mel) <= model.context


def test_step_batch_matches_step_for_streams_at_different_grid_phases():
    torch.manual_seed(18)
    model = TorchFaceModel(continuous(DEEPTalk(tiny())), name="deeptalk")
    audios = [speechlike(0.9, seed=s) for s in (1, 2, 3)]
    ctl = [Controls(emotion=onehot("sad")), Controls(emotion=onehot("angry"), intensity=1.0), Controls(auto=True)]
    single = [model.new_state() for _ in audios]
    batch = [model.new_state() for _ in audios]
    for j, lead in ((0, 160), (1, 480)):  # streams 0 and 1 start 1 and 3 rows ahead of stream 2
        ref = model.step(single[j], audios[j][:lead], ctl[j])
        np.testing.assert_allclose(model.step(batch[j], audios[j][:lead], ctl[j]).frames, ref.frames)
    offsets = [160, 480, 0]
    for i in range(0, 8000, 800):
        blocks = [a[o + i : o + i + 800] for a, o in zip(audios, offsets)]
        ref = [model.step(s, b, c) for s, b, c in zip(single, blocks, ctl)]
        got = model.step_batch(batch, blocks, ctl)
        for r, g in zip(ref, got):
            np.testing.assert_allclose(g.frames, r.frames, atol=1e-5)
            np.testing.assert_allclose(g.times, r.times)


# -- the ablation "DEEPTalk with VQ-VAE" (Table 4): hierarchical=False ---------------------------------------

TOP_LEVEL = {  # the top level's modules, per stage: in the motion prior and in the generator
    "vqvae": ("vq.enc_t_down.", "vq.enc_t.", "vq.dt_up.", "vq.dt.", "vq.db_up_t."),
    "generator": ("gen.top_down.", "gen.top_layers.", "gen.top_head."),
}


def test_without_the_top_level_one_vq_vae_trains_and_the_top_stays_unused():
    """hierarchical=False: the same parameters, but the top encoder, codebook, decoder and predictor get no
    gradients and the top codebook's EMA state never moves; each stage still lowers its loss."""
    torch.manual_seed(21)
    net = DEEPTalk(tiny(hierarchical=False, dropout=0.0))
    assert set(net.state_dict()) == set(DEEPTalk(tiny()).state_dict())  # checkpoints keep their names
    with torch.no_grad():
        out = net.eval().predict(torch.randn(2, 30, 80), torch.eye(8)[:2], torch.ones(2), SILENCE)
        e_t, e_b, _, (i_t, i_b) = net.vq.encode(torch.rand(2, 32, 52))
    assert out["rig"].shape == (2, 30, 52) and out["emotion_logits"].shape == (2, 30, 8)
    assert e_t.shape == (2, 8, 16) and not e_t.any() and i_t is None  # no top codes: zeros in their place
    assert e_b.shape == (2, 16, 32) and i_b.shape == (2, 16)
    assert net.cfg.left_context < tiny().left_context  # no path through a top code

    net.train()
    top = {k: v.clone() for k, v in net.vq.q_t.state_dict().items()}  # codebook, cluster_size, embed_sum
    batch = emotional_batch(range(2), np.random.default_rng(0))
    for stage, steps, fall in (("vqvae", 60, 0.1), ("generator", 80, 0.7)):  # the prior's error bounds the generator's
        own = {id(p) for p in net.stage_parameters(stage)}
        opt = torch.optim.Adam(net.stage_parameters(stage), lr=3e-3)
        losses = []
        for step in range(steps):
            loss, parts = net.loss(batch, stage)
            opt.zero_grad()
            loss.backward()
            if step == 0:  # the top level gets no gradient, everything else the stage trains does
                for name, p in net.named_parameters():
                    if id(p) in own:
                        used = p.grad is not None and bool(p.grad.any())
                        assert used != name.startswith(TOP_LEVEL[stage]), (stage, name)
            opt.step()
            losses.append(parts["rec"].item())
            assert torch.isfinite(loss), stage
        assert np.mean(losses[-5:]) < fall * np.mean(losses[:3]), (stage, losses[:3], losses[-5:])
        if stage == "vqvae":
            assert parts["top_codes"] == 0 and parts["bottom_codes"] > 1
            assert net.vq.filled.tolist() == [0.0, 1.0]  # only the bottom codebook was seeded
    for k, v in net.vq.q_t.state_dict().items():
        assert torch.equal(v, top[k]), k  # the top codebook's EMA never ran


@pytest.mark.parametrize("sampling", [{}, {"tau_bottom": 0.5}])
def test_without_the_top_level_streaming_equals_offline(sampling):
    torch.manual_seed(22)
    model = TorchFaceModel(DEEPTalk(tiny(hierarchical=False, **sampling)), name="deeptalk")
    for auto in (False, True):
        controls = Controls(emotion=onehot("happy"), intensity=0.8, auto=auto)
        assert_streaming_equals_offline(model, speechlike(1.5, seed=3), controls)


def test_hierarchical_false_from_the_command_line_setting():
    """`emorig train --preset deeptalk --set hierarchical=false`: the override reaches the config."""
    from training.cli_train import _override
    from training.train import build_net

    key, value = _override("hierarchical=false")
    sizes = {k: v for k, v in tiny().__dict__.items() if k != "space"}
    net = build_net("deeptalk", "arkit", {**sizes, key: value})
    assert net.cfg.hierarchical is False


# -- identities, checkpoints ----------------------------------------------------------------------------


def test_speaker_style_with_an_unknown_row_and_a_growing_table(tmp_path, registered):
    torch.manual_seed(19)
    net = continuous(DEEPTalk(tiny(n_speakers=3))).eval()
    mel, pos, emo, k = torch.randn(3, 20, 80), torch.arange(20).expand(3, -1), torch.eye(8)[:3], torch.ones(3)
    with torch.no_grad():
        default = net(mel, emo, k, pos)["rig"]
        unknown = net(mel, emo, k, pos, speaker=torch.tensor([-1, -1, -1]))["rig"]
        known = net(mel, emo, k, pos, speaker=torch.tensor([0, 1, 2]))["rig"]
    assert torch.equal(default, unknown) and not torch.allclose(known, unknown)
    with pytest.raises(ValueError, match="n_speakers=3"):
        net(mel, emo, k, pos, speaker=torch.tensor([0, 1, 3]))
    before = net.gen.style_id.weight.detach().clone()
    net.n_speakers_seen = 5
    assert net.cfg.n_speakers == 5 and net.gen.style_id.num_embeddings == 6
    assert torch.equal(net.gen.style_id.weight[:3], before[:3]) and torch.equal(net.gen.style_id.weight[5], before[3])
    del net._select
    loaded, _ = load_checkpoint(save_checkpoint(tmp_path / "ckpt", net, "deeptalk"))
    assert loaded.cfg.n_speakers == 5 and torch.equal(loaded.gen.style_id.weight, net.gen.style_id.weight)


def test_registered_and_checkpoint_round_trip(tmp_path, registered):
    torch.manual_seed(20)
    net = DEEPTalk(tiny("metahuman", alpha=0.3, tau_bottom=0.5))
    net.train()
    net.loss(random_batch(k=251), "vqvae")  # filled codebooks, moved EMA statistics
    net.gen_steps.fill_(7)
    folder = save_checkpoint(tmp_path / "ckpt", net, "deeptalk", training={"steps": 0})
    doc = json.loads((folder / "config.json").read_text())
    assert doc["preset"] == "deeptalk" and doc["space"] == "metahuman" and doc["config"]["alpha"] == 0.3
    loaded, _ = load_checkpoint(folder)
    assert loaded.cfg == net.cfg and int(loaded.gen_steps) == 7
    for key, v in net.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[key]), key
    model = load_face_model(folder, "cpu")
    assert model.name == "deeptalk" and model.lookahead == pytest.approx(0.0125 + 0.03)
    audio = speechlike(0.5)
    np.testing.assert_allclose(
        model.offline(audio, Controls()).frames, TorchFaceModel(net.eval()).offline(audio, Controls()).frames, atol=1e-6
    )


def test_the_trainer_runs_the_three_stages_and_writes_a_usable_checkpoint(tmp_path, registered):
    """`emorig train --preset deeptalk` (in-process, so the registration above applies): each stage's
    optimiser, validation on a held-out speaker, the speaker table grown to the corpus, a checkpoint."""
    from test_train import make_corpus

    from bridge.cli import main

    corpus = make_corpus(tmp_path)
    overrides = {k: v for k, v in tiny().__dict__.items() if k != "space"}
    sets = [
        a for k, v in overrides.items() for a in ("--set", f"{k}={json.dumps(list(v) if isinstance(v, tuple) else v)}")
    ]
    out = tmp_path / "run"
    args = ["train", "--preset", "deeptalk", "--data", str(corpus), "-o", str(out), "--batch", "4", "--window", "40"]
    args += ["--steps", "4", "--val-every", "2", "--cache", str(tmp_path / "cache"), "--threads", "1", "--lr", "3e-3"]
    assert main(args + sets) == 0
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [(r["stage"], r["step"]) for r in rows if r["kind"] == "val"] == [
        (stage, step) for stage in DEEPTalk.stages for step in (2, 4)
    ]
    assert {"match", "proto"} <= set(rows[1]) and all(np.isfinite(r["rig_mse"]) for r in rows if r["kind"] == "val")
    net, doc = load_checkpoint(out)
    assert doc["preset"] == "deeptalk" and doc["training"]["stage"] == "generator"
    assert int(net.gen_steps) == 4 and net.vq.filled.all()
    assert net.cfg.n_speakers == 3  # the tiny config's table, at least as large as the corpus's 2 train speakers
    model = load_face_model(out, "cpu")
    frames = model.offline(speechlike(0.5), Controls(emotion=onehot("happy"))).frames
    assert frames.shape == ((8000 - 1) // 160 + 1, 52) and np.isfinite(frames).all()


# -- a short three-stage run: emotion audible in the speech ------------------------------------------------


def emotional_batch(sentences, rng):
    rows = []
    for s in sentences:
        for e in TRAIN_EMOTIONS:
            k = float(rng.uniform(0.6, 1))
            rows.append((*emotional_clip(s, e, k, 0.64), e, k, s % 3))
    return dict(
        mel=torch.stack([r[0] for r in rows]),
        target=torch.stack([r[1] for r in rows]),
        emotion=torch.tensor(np.stack([onehot(r[2]) for r in rows])),
        intensity=torch.tensor([r[3] for r in rows], dtype=torch.float32),
        speaker=torch.tensor([r[4] for r in rows]),
        silence_mel=SILENCE,
    )


STEPS = {"dee": 150, "vqvae": 600, "generator": 200}  # the VQ-VAE needs its steps to catch the small jaw signal


@pytest.fixture(scope="module")
def trained():
    """Each stage in turn, as the trainer runs them: a fresh Adam on that stage's parameters."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    net = DEEPTalk(tiny(dropout=0.0))
    batch = emotional_batch(range(6), rng)
    history = {}
    for stage in net.stages:
        opt = torch.optim.Adam(net.stage_parameters(stage), lr=3e-3)
        history[stage] = []
        for _ in range(STEPS[stage]):
            loss, parts = net.loss(batch, stage)
            opt.zero_grad()
            loss.backward()
            opt.step()
            history[stage].append({"loss": loss.item(), **{k: v.item() for k, v in parts.items()}})
    return net.eval(), history


def test_every_stage_lowers_its_loss(trained):
    _, history = trained
    for stage, keys in (("dee", ("loss", "match", "proto")), ("vqvae", ("loss", "rec")), ("generator", ("rec", "emo"))):
        for key in keys:
            first = np.mean([h[key] for h in history[stage][:3]])
            last = np.mean([h[key] for h in history[stage][-10:]])
            assert last < 0.5 * first, (stage, key, first, last)
    assert history["vqvae"][-1]["top_codes"] >= 8 and history["vqvae"][-1]["bottom_codes"] >= 16  # no collapse
    assert history["generator"][-1]["tau"] < 0.2


def test_dee_hears_the_emotion_and_auto_mode_reports_it(trained):
    net, _ = trained
    model = TorchFaceModel(net, name="deeptalk")
    hits = []
    for e in TRAIN_EMOTIONS:  # an unseen sentence
        out = model.offline(speechlike(0.64, seed=99, f0=VOICE[e]), Controls(auto=True))
        guess = out.emotion_probs[:, [EMOTIONS.index(x) for x in TRAIN_EMOTIONS]].argmax(-1)
        hits.append(np.mean(guess[20:] == TRAIN_EMOTIONS.index(e)))  # past the first frames
    assert np.mean(hits) > 0.75, hits


def test_the_face_follows_the_speech_and_the_emotion_controls(trained):
    net, _ = trained
    model = TorchFaceModel(net, name="deeptalk")
    audio = speechlike(0.64, seed=98, f0=VOICE["neutral"])  # unseen sentence, neutral voice
    _, target = emotional_clip(98, "neutral", 1.0, 0.64)
    jaw, smile, brow = ARKIT.index("jawOpen"), ARKIT.index("mouthSmileLeft"), ARKIT.index("browDownLeft")
    voice = model.offline(audio, Controls(emotion=onehot("happy"), intensity=0.0)).frames  # the voice's own
    happy = model.offline(audio, Controls(emotion=onehot("happy"), intensity=1.0)).frames
    angry = model.offline(audio, Controls(emotion=onehot("angry"), intensity=1.0)).frames
    assert np.corrcoef(voice[:, jaw], target[: len(voice), jaw])[0, 1] > 0.6  # lips follow the content
    assert happy[:, smile].mean() > voice[:, smile].mean() + 0.1
    assert happy[:, smile].mean() > angry[:, smile].mean() + 0.1
    assert angry[:, brow].mean() > happy[:, brow].mean() + 0.1
    auto = model.offline(speechlike(0.64, seed=98, f0=VOICE["happy"]), Controls(auto=True)).frames
    assert auto[:, smile].mean() > voice[:, smile].mean() + 0.1  # auto: the happy voice smiles by itself


def test_animate_with_a_deeptalk_checkpoint_end_to_end(tmp_path, trained, registered):
    from bridge.cli import main
    from retarget.takes import read_take

    folder = save_checkpoint(tmp_path / "ckpt", trained[0], "deeptalk")
    wav = tmp_path / "speech.wav"
    sf.write(wav, speechlike(1.0, seed=5), 16000)
    out = tmp_path / "take.csv"
    assert main(["animate", str(wav), "-o", str(out), "--model", str(folder), "--emotion", "sad", "--quiet"]) == 0
    take = read_take(out)
    assert len(take.frames) > 10 and np.ptp(take.frames, axis=0).max() > 0
