"""DEITalk's ablation switches (the paper's Table 3) and emorig's closure head.

Tiny configs only (CPU, seconds)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from preset_checks import ARKIT, SILENCE, assert_streaming_equals_offline, onehot, speechlike, teacher_batch  # noqa: E402  # noqa: E402
from preset_checks import tiny_deitalk as tiny  # noqa: E402

from bridge.model import Controls  # noqa: E402
from training.dataset import SILENCE_MEL, Clip, WindowSampler, normalise, speaker_warp  # noqa: E402
from training.inference import TorchFaceModel  # noqa: E402
from training.models import DEITalk  # noqa: E402
from training.models.blocks import lip_mask  # noqa: E402
from training.models.deitalk import lead_labels  # noqa: E402
from training.teacher import bilabial_closure, rounded_lips, tongue_stops  # noqa: E402

VARIANTS = {
    "no_dei": dict(dei=False),
    "no_dpe": dict(dpe=False),
    "closure_head": dict(closure_head=True),
    "event_heads": dict(closure_head=True, rounding_head=True),
    "feature_smoothing": dict(closure_head=True, feature_smoothing=2),
    "committed_closure": dict(closure_head=True, closure_seal=True, closure_hold=3, feature_smoothing=2),
    "released_closure": dict(closure_head=True, closure_seal=True, closure_hold=1, closure_release=2),
    "held_rounding": dict(closure_head=True, rounding_head=True, closure_hold=1, rounding_hold=2, rounding_release=2),
    "closure_attack": dict(closure_head=True, closure_hold=1, closure_release=2, closure_attack=2, closure_lead=3),
    "smooth_face": dict(closure_head=True, rounding_head=True, closure_attack=2, w_acc=5.0),
    "smooth_base": dict(closure_head=True, rounding_head=True, closure_attack=2, w_acc_base=5.0),
    "smoothed_output": dict(closure_head=True, rounding_head=True, closure_attack=2, output_smoothing=2),
    "seal_after_smoothing": dict(
        closure_head=True, rounding_head=True, closure_seal=True, output_smoothing=2, smooth_closure=False
    ),
    "every_event": dict(
        closure_head=True, rounding_head=True, w_closure_any=1.0, w_rounding_any=0.5, w_closure_none=1.0
    ),
}


def batch_with_closures(n=16):
    """teacher_batch plus closure labels on the quiet frames, where the target seals the lips
    (mouthClose = jawOpen): an event the audio tells apart."""
    mel, y, e, k = teacher_batch(n)
    quiet = y[..., ARKIT.index("jawOpen")] < 0.05
    y = y.clone()
    y[..., ARKIT.index("mouthClose")] = torch.where(quiet, y[..., ARKIT.index("jawOpen")], 0.0)
    wide = y[..., ARKIT.index("jawOpen")] > 0.3  # stands in for rounded vowels: another audible event
    return dict(
        mel=mel,
        target=y,
        emotion=e,
        intensity=k,
        silence_mel=SILENCE,
        closure=quiet.float(),
        rounding=wide.float(),
        stops=(~quiet & ~wide).float(),  # stands in for T/D/K/G: not a closure
    )


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_variants_train_every_parameter_and_stream_like_offline(variant):
    torch.manual_seed(0)
    net = DEITalk(tiny(**VARIANTS[variant]))
    loss, parts = net.loss(batch_with_closures(4))
    loss.backward()
    # No dead weights: DDP refuses parameters without gradients, and they would be dead bytes.
    assert all(p.grad is not None for p in net.parameters())
    if variant == "no_dei":
        assert set(parts) == {"pos", "vel"}  # no contrast, no classification
    if variant == "closure_head":
        assert {"closure", "sealed"} <= set(parts) and "rounding" not in parts
    if variant == "event_heads":
        assert {"closure", "sealed", "rounding", "rounded"} <= set(parts) and "closure_any" not in parts
    if variant == "every_event":
        assert {"closure_any", "rounding_any", "closure_none"} <= set(parts)
    if variant == "smooth_face":
        assert "acc" in parts
    if variant == "smooth_base":
        # The base face's shake costs, the jaw's does not (its short open vowels need the speed).
        shaken = {}
        for name in ("jawOpen", "mouthPucker"):
            batch = batch_with_closures(4)
            torch.manual_seed(1)
            batch["target"][:, ::2, ARKIT.index(name)] += 0.5
            shaken[name] = net.loss(batch)[1]["acc_base"]
        torch.manual_seed(1)
        still = net.loss(batch_with_closures(4))[1]["acc_base"]
        torch.testing.assert_close(shaken["jawOpen"], still)
        assert shaken["mouthPucker"] > 2 * still
    controls = Controls(emotion=onehot("happy"), intensity=0.8, auto=variant != "no_dei")
    assert_streaming_equals_offline(TorchFaceModel(net.eval()), speechlike(1.0, seed=2), controls)


def test_every_event_counts_once_by_its_surest_frame():
    from training.models.deitalk import event_peaks

    on = torch.tensor([[0, 1, 1, 0, 1], [1, 1, 0, 0, 0]], dtype=torch.bool)  # runs end at window edges
    logit = torch.tensor([[9.0, -2.0, 0.5, 9.0, -1.0], [3.0, -4.0, 9.0, 9.0, 9.0]])
    assert event_peaks(logit, on).tolist() == [0.5, -1.0, 3.0]


def test_without_dpe_the_face_does_not_depend_on_when_the_words_come():
    torch.manual_seed(0)
    mel = torch.randn(1, 30, 80)
    lead = DEITalk(tiny()).cfg.left_context  # both see only silence before the words
    early = torch.cat([torch.full((1, lead, 80), SILENCE), mel, torch.full((1, 50, 80), SILENCE)], 1)
    late = torch.cat([torch.full((1, lead + 50, 80), SILENCE), mel], 1)
    for dpe, same in ((True, False), (False, True)):
        net = DEITalk(tiny(dpe=dpe)).eval()
        with torch.no_grad():
            a = net.predict(early, torch.eye(8)[:1], torch.ones(1), SILENCE)["rig"][:, lead + 20 : lead + 30]
            b = net.predict(late, torch.eye(8)[:1], torch.ones(1), SILENCE)["rig"][:, lead + 70 : lead + 80]
        assert torch.allclose(a, b, atol=1e-5) == same


def test_the_closure_gate_swaps_in_the_sealed_face_on_lip_curves_only():
    torch.manual_seed(0)
    net = DEITalk(tiny(closure_head=True)).eval()
    mel = torch.randn(1, 40, 80)
    lip = lip_mask("arkit")
    for bias in (40.0, -40.0):
        with torch.no_grad():
            net.closure_logit.weight.zero_()
            net.closure_logit.bias.fill_(bias)
            out = net.predict(mel, torch.eye(8)[:1], torch.ones(1), SILENCE)
        sure = bias > 0
        expect_lips = out["sealed"][..., lip] if sure else out["rig_base"][..., lip]
        torch.testing.assert_close(out["rig"][..., lip], expect_lips)
        torch.testing.assert_close(out["rig"][..., ~lip], out["rig_base"][..., ~lip])


def test_a_committed_closure_touches_the_lips_and_holds_a_short_spike():
    torch.manual_seed(0)
    net = DEITalk(tiny(closure_head=True, closure_seal=True, seal_jaw=0.1, closure_hold=3)).eval()
    jaw, close = ARKIT.index("jawOpen"), ARKIT.index("mouthClose")
    with torch.no_grad():
        net.closure_logit.weight.zero_()
        net.closure_logit.bias.fill_(40.0)
        net.sealed_head.weight.zero_()
        net.sealed_head.bias.zero_()
        net.sealed_head.bias[jaw] = 0.3  # a sealed head that came out half open, as on a new voice
        out = net.predict(torch.randn(1, 40, 80), torch.eye(8)[:1], torch.ones(1), SILENCE)
    # Decoded: the jaw capped and the lips meeting over it (mouthClose = jawOpen), whatever the head said.
    torch.testing.assert_close(out["rig"][0, :, jaw], torch.full((40,), 0.1))
    torch.testing.assert_close(out["rig"][0, :, close], torch.full((40,), 0.1))
    # One frame sure of a closure: the gate stays up for it and the 3 frames after, then lets go.
    spike = torch.full((1, 40), -40.0)
    spike[0, 20] = 40.0
    gate = net._hold("closure", torch.sigmoid(spike), None)
    assert gate[0, 20:24].min() > 0.99 and gate[0, 24:].max() < 1e-6 and gate[0, :20].max() < 1e-6
    # Released over 2 frames after a 1-frame hold: the lips part in steps, not at once.
    net.cfg.closure_hold, net.cfg.closure_release = 1, 2
    gate = net._hold("closure", torch.sigmoid(spike), None)
    torch.testing.assert_close(gate[0, 19:25], torch.tensor([0.0, 1.0, 1.0, 2 / 3, 1 / 3, 0.0]))
    # Streaming keeps the release across blocks: the same gate, fed a frame at a time.
    cache: dict = {}
    steps = [net._hold("closure", torch.sigmoid(spike[:, i : i + 1]), cache) for i in range(40)]
    torch.testing.assert_close(torch.cat(steps, 1), gate)
    # The rounding gate takes its own hold and release, in its own slot of the stream's state.
    net.cfg.rounding_hold, net.cfg.rounding_release = 2, 1
    torch.testing.assert_close(
        net._hold("rounding", torch.sigmoid(spike), cache)[0, 19:25], torch.tensor([0.0, 1.0, 1.0, 1.0, 0.5, 0.0])
    )
    assert "rounding_hold" in cache and "closure_hold" in cache


def test_a_sure_closure_wins_over_a_sure_rounding_on_the_lips():
    torch.manual_seed(0)
    net = DEITalk(tiny(closure_head=True, rounding_head=True)).eval()
    mel = torch.randn(1, 40, 80)
    lip = lip_mask("arkit")
    for closure, rounding, face in ((40.0, 40.0, "sealed"), (-40.0, 40.0, "rounded"), (-40.0, -40.0, "rig_base")):
        with torch.no_grad():
            for layer, bias in ((net.closure_logit, closure), (net.rounding_logit, rounding)):
                layer.weight.zero_()
                layer.bias.fill_(bias)
            out = net.predict(mel, torch.eye(8)[:1], torch.ones(1), SILENCE)
        torch.testing.assert_close(out["rig"][..., lip], out[face][..., lip])
        torch.testing.assert_close(out["rig"][..., ~lip], out["rig_base"][..., ~lip])


def test_calibration_fits_each_event_head_on_its_own_labels():
    torch.manual_seed(0)
    net = DEITalk(tiny(closure_head=True, rounding_head=True)).eval()
    fitted = net.calibrate([batch_with_closures(8)])
    assert {"closure_threshold", "rounding_threshold"} <= set(fitted)
    assert net.cfg.closure_threshold == fitted["closure_threshold"]
    assert net.cfg.rounding_threshold == fitted["rounding_threshold"]


def test_feature_smoothing_smooths_the_face_with_the_same_weights():
    torch.manual_seed(0)
    rough = DEITalk(tiny()).eval()
    smooth = DEITalk(tiny(feature_smoothing=2)).eval()
    smooth.load_state_dict(rough.state_dict())  # the filter is fixed: no weights of its own
    mel = torch.randn(1, 80, 80)

    def roughness(net):
        with torch.no_grad():
            rig = net.predict(mel, torch.eye(8)[:1], torch.ones(1), SILENCE)["rig"]
        return rig.diff(n=2, dim=1).abs().mean()

    assert roughness(smooth) < 0.6 * roughness(rough)


def test_output_smoothing_is_centred_on_time_inside_the_lookahead():
    """The smoothed face at frame t is the Hann average of the unsmoothed face at t-2..t+2 of the same
    weights with 2 frames less lookahead: on time (no lag), the closure gate untouched, the same latency."""
    torch.manual_seed(0)
    kw = dict(closure_head=True, closure_seal=True, closure_attack=2, lookahead=6)
    smooth = DEITalk(tiny(**kw, output_smoothing=2)).eval()
    plain = DEITalk(tiny(**{**kw, "lookahead": 4})).eval()
    plain.load_state_dict(smooth.state_dict())
    mel, e = torch.randn(1, 60, 80), torch.eye(8)[:1]
    with torch.no_grad():
        a = smooth.predict(mel, e, torch.ones(1), SILENCE)
        b = plain.predict(mel, e, torch.ones(1), SILENCE)
    taps = torch.hann_window(7, periodic=False)[1:-1]
    taps = taps / taps.sum()
    centred = torch.stack([(b["rig"][0, t - 2 : t + 3] * taps[:, None]).sum(0) for t in range(2, 58)])
    torch.testing.assert_close(a["rig"][0, 2:58], centred, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(a["closure_gate"], b["closure_gate"])
    torch.testing.assert_close(a["rig_base"], b["rig_base"])
    assert a["rig"].diff(n=2, dim=1).abs().mean() < 0.7 * b["rig"].diff(n=2, dim=1).abs().mean()
    assert TorchFaceModel(smooth).lookahead == TorchFaceModel(DEITalk(tiny(**kw))).lookahead
    with pytest.raises(ValueError, match="lookahead"):
        DEITalk(tiny(**kw, output_smoothing=7))


def test_a_seal_after_the_output_filter_stays_a_seal_and_on_time():
    """smooth_closure=False: where the closure gate is fully on, the lips are the sealed face itself
    (not its average with the open frames around it), at the same frames as without a filter."""
    torch.manual_seed(0)
    kw = dict(closure_head=True, closure_seal=True, closure_threshold=1e-4, lookahead=6)  # the gate always on
    late = DEITalk(tiny(**kw, output_smoothing=2, smooth_closure=False)).eval()
    blurred = DEITalk(tiny(**kw, output_smoothing=2)).eval()
    plain = DEITalk(tiny(**{**kw, "lookahead": 4})).eval()
    for net in (late, blurred):
        net.load_state_dict(plain.state_dict())
    mel, e = torch.randn(1, 60, 80), torch.eye(8)[:1]
    with torch.no_grad():
        a, c, b = (net.predict(mel, e, torch.ones(1), SILENCE)["rig"][0] for net in (late, blurred, plain))
    lip = lip_mask("arkit")
    torch.testing.assert_close(a[2:, lip], b[2:, lip])
    assert (c[2:, lip] - b[2:, lip]).abs().max() > 1e-3  # smoothed with it, the seal would blur
    torch.testing.assert_close(a[2:58, ~lip], c[2:58, ~lip])  # the rest of the face is filtered alike


def test_the_acceleration_loss_trains_a_face_that_shakes_less():
    """w_acc (issue 12's jitter row): the same network, seed and steps, with and without it; the
    gated face that leaves is compared by the jitter row's measure, mean |second difference|."""
    batch = batch_with_closures(16)

    def shake(w_acc):
        torch.manual_seed(0)
        net = DEITalk(tiny(closure_head=True, rounding_head=True, w_closure=1.0, w_acc=w_acc))
        opt = torch.optim.Adam(net.parameters(), lr=3e-3)
        for _ in range(60):
            loss, _ = net.loss(batch)
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            rig = net.eval().predict(batch["mel"], batch["emotion"], batch["intensity"], SILENCE)["rig"]
        return rig.diff(n=2, dim=1).abs().mean().item()

    teacher = batch["target"].diff(n=2, dim=1).abs().mean().item()
    plain, smooth = shake(0.0), shake(200.0)
    assert smooth < 0.8 * plain
    assert smooth > 0.3 * teacher  # smoother, not frozen


def test_the_closure_head_learns_where_the_lips_seal():
    torch.manual_seed(0)
    net = DEITalk(tiny(closure_head=True, w_closure=1.0))  # a stronger weight: fewer steps here
    batch = batch_with_closures(32)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    first = None
    for _ in range(150):
        loss, parts = net.loss(batch)
        first = first if first is not None else parts["closure"].item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert parts["closure"].item() < 0.5 * first
    with torch.no_grad():
        out = net.eval().predict(batch["mel"], batch["emotion"], batch["intensity"], SILENCE)
    sealed = batch["closure"] > 0.5
    prob = out["closure_logit"].sigmoid()
    assert (prob[sealed] > 0.5).float().mean() > 0.8 and (prob[~sealed] < 0.5).float().mean() > 0.8
    gap = out["rig"][..., ARKIT.index("jawOpen")] - out["rig"][..., ARKIT.index("mouthClose")]
    assert gap[sealed].abs().mean() < 0.05  # where it is sure, the lips meet

    # On a new voice the head is less sure (here: logits lowered until the median sealed frame is 8% sure):
    # the 0.5 threshold would never seal; the threshold fitted on held-out windows seals again.
    with torch.no_grad():
        net.closure_logit.bias -= out["closure_logit"][sealed].median() + 2.5

    def gate():
        with torch.no_grad():
            return net.predict(batch["mel"], batch["emotion"], batch["intensity"], SILENCE)["closure_gate"]

    unsure = gate()
    fitted = net.calibrate([batch])
    assert fitted["closure_threshold"] < 0.5 and fitted["closure_f1"] > 0.8
    fitted_gate = gate()
    assert unsure[sealed].mean() < 0.3 and fitted_gate[sealed].mean() > 0.8 and fitted_gate[~sealed].mean() < 0.2


def test_teacher_closure_labels_cover_bilabials_only():
    phones = [(0.0, 0.2, "AA"), (0.2, 0.3, "P"), (0.3, 0.5, "AA"), (0.5, 0.6, "F"), (0.6, 0.8, "AA"), (0.8, 0.9, "M")]
    phones += [(0.9, 1.1, "IY")]
    sealed = bilabial_closure(phones, 110, 100.0)
    frames = np.flatnonzero(sealed)
    p = frames[frames < 50]
    m = frames[frames >= 50]
    assert len(p) and 20 <= p.min() and p.max() <= 30  # inside the P
    assert len(m) and 80 <= m.min() and m.max() <= 90  # inside the M, nothing on the F
    assert not sealed[:20].any() and not sealed[31:80].any() and not sealed[91:].any()


def test_tongue_stop_labels_mark_t_d_k_g_and_never_a_bilabial():
    phones = [(0.0, 0.2, "AA"), (0.2, 0.3, "T"), (0.3, 0.5, "AA"), (0.5, 0.6, "M"), (0.6, 0.7, "B")]
    phones += [(0.7, 0.9, "IY"), (0.9, 1.0, "K"), (1.0, 1.1, "S")]
    stops = tongue_stops(phones, 110, 100.0)
    assert stops[20:31].all() and stops[90:101].all()  # the T and the K
    assert not stops[:20].any() and not stops[32:89].any() and not stops[102:].any()  # vowels, M, B, S
    assert not (stops & bilabial_closure(phones, 110, 100.0)).any()


def test_teacher_rounding_labels_sit_inside_rounded_vowels_only():
    phones = [(0.0, 0.2, "AA"), (0.2, 0.4, "UW"), (0.4, 0.5, "B"), (0.5, 0.7, "IY"), (0.7, 0.8, "W"), (0.8, 1.0, "OW")]
    rounded = rounded_lips(phones, 100, 100.0)
    frames = np.flatnonzero(rounded)
    assert frames.size and (((frames >= 20) & (frames <= 40)) | (frames >= 70)).all()
    assert rounded[30] and rounded[75] and rounded[90]  # the middles of UW, W and OW
    assert not rounded[:20].any() and not rounded[41:70].any()  # nothing on AA, B or IY


def test_windows_carry_closure_labels_and_unknown_is_minus_one():
    n = 50
    base = dict(prosody=np.zeros((n, 3), np.float32), target=np.zeros((n, len(ARKIT)), np.float32))
    base |= dict(emotion=onehot("neutral"), intensity=0.0, speaker="s", text=None)
    labelled = Clip("a", np.zeros((n, 80), np.float32), closure=np.ones(n, np.float32), **base)
    unknown = Clip("b", np.zeros((n, 80), np.float32), **base)
    sampler = WindowSampler([labelled, unknown], window=60)  # longer than the clips: padding
    batch = sampler.collate([(0, 0), (1, 0)])
    assert batch["closure"].shape == (2, 60)
    assert (batch["closure"][0, :n] == 1).all() and (batch["closure"][0, n:] == 0).all()
    assert (batch["closure"][1] == -1).all()


def test_recorded_share_sets_how_many_windows_come_from_real_recordings():
    base = dict(emotion=onehot("neutral"), intensity=0.0, text=None)

    def clip(name, n, recorded):
        z = np.zeros((n, 80), np.float32)
        return Clip(
            name,
            z,
            np.zeros((n, 3), np.float32),
            np.zeros((n, len(ARKIT)), np.float32),
            speaker=name,
            recorded=recorded,
            **base,
        )

    clips = [clip("real", 300, True), clip("synth-a", 3000, False), clip("synth-b", 3000, False)]
    rng = np.random.default_rng(0)
    by_length = WindowSampler(clips, window=100)
    half = WindowSampler(clips, window=100, recorded_share=0.5)
    draws = lambda s: np.mean(rng.choice(len(clips), size=4000, p=s.weights) == 0)  # noqa: E731
    assert draws(by_length) < 0.1  # one short real clip beside two long synthetic ones
    assert 0.45 < draws(half) < 0.55
    assert abs(half.weights.sum() - 1) < 1e-9
    assert np.allclose(WindowSampler(clips[1:], window=100, recorded_share=0.5).weights, [0.5, 0.5])


def test_speaker_warp_moves_a_voice_up_the_spectrum_and_leaves_silence_and_labels_alone():
    from training.features import log_mel

    t = np.arange(16000) / 16000
    tone = lambda hz: normalise(log_mel((0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)))  # noqa: E731
    low, high = tone(1000.0), tone(1200.0)
    warped = speaker_warp(low, 1.2)
    assert np.argmax(warped[50]) == np.argmax(high[50]) != np.argmax(low[50])  # a formant moved by the factor
    np.testing.assert_allclose(speaker_warp(low, 1.0), low, atol=1e-6)
    silence = np.full((10, 80), SILENCE_MEL, np.float32)
    assert (speaker_warp(silence, 0.9, 6.0) == SILENCE_MEL).all()  # a tilt must not make silence audible
    hiss = normalise(log_mel((0.1 * np.random.default_rng(0).standard_normal(16000)).astype(np.float32)))
    change = (speaker_warp(hiss, 1.0, 6.0) - hiss).mean(0)
    assert change[-1] > 0 > change[0]  # the top brighter, the bottom duller

    n = 120
    base = dict(prosody=np.zeros((n, 3), np.float32), target=np.zeros((n, len(ARKIT)), np.float32))
    base |= dict(emotion=onehot("neutral"), intensity=0.0, speaker="s", text=None)
    sampler = WindowSampler([Clip("a", low[:n], closure=np.ones(n, np.float32), **base)], window=100)
    plain = sampler.batch(4, np.random.default_rng(0), gain=False)
    voiced = sampler.batch(4, np.random.default_rng(0), gain=False, warp=0.15)
    assert not np.allclose(plain["mel"], voiced["mel"])
    np.testing.assert_array_equal(plain["target"], voiced["target"])
    np.testing.assert_array_equal(plain["closure"], voiced["closure"])
    np.testing.assert_array_equal(voiced["mel"], voiced["pair_mel"])  # a window's pair is the same voice


def test_a_closure_attack_ramps_the_lips_shut_and_the_lead_trains_it_early():
    torch.manual_seed(0)
    net = DEITalk(tiny(closure_head=True, closure_seal=True, closure_hold=1, closure_release=2, closure_attack=2))
    net.eval()
    step = torch.full((1, 30), -40.0)
    step[0, 10:20] = 40.0
    held = net._hold("closure", torch.sigmoid(step), None)
    gate = net._attack(held, None)
    # Shut over three frames instead of one; opening is the release's, untouched.
    torch.testing.assert_close(gate[0, 9:14], torch.tensor([0.0, 1 / 3, 2 / 3, 1.0, 1.0]))
    torch.testing.assert_close(gate[0, 20:24], held[0, 20:24])
    cache: dict = {}
    steps = [net._attack(net._hold("closure", torch.sigmoid(step[:, i : i + 1]), cache), cache) for i in range(30)]
    torch.testing.assert_close(torch.cat(steps, 1), gate)
    # The lead moves each event's start earlier (not its end), and leaves unknown frames unknown.
    label = torch.tensor([[0.0, 0, 0, 0, 1, 1, 0, 0, -1, -1]])
    torch.testing.assert_close(lead_labels(label, 2), torch.tensor([[0.0, 0, 1, 1, 1, 1, 0, 0, -1, -1]]))
