"""The trained-network path: DEITalk shapes and losses, streaming == offline, checkpoints, the bridge hook.

Tiny configs only (CPU, seconds). The paper-sized defaults are exercised only for construction."""

import json
import pickle

import numpy as np
import pytest
import soundfile as sf
from conftest import run_emorig

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

from preset_checks import (  # noqa: E402
    SILENCE,  # noqa: E402
    assert_causal_up_to_lookahead,
    assert_controls_move_the_face,
    assert_streaming_equals_offline,
    onehot,
    speechlike,
    teacher_batch,
)
from preset_checks import tiny_deitalk as tiny  # noqa: E402

from bridge.model import Controls  # noqa: E402
from retarget.errors import InputError  # noqa: E402
from retarget.spaces import get_space  # noqa: E402
from training.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from training.features import log_mel  # noqa: E402
from training.inference import TorchFaceModel, load_face_model  # noqa: E402
from training.models import DEITalk, DEITalkConfig  # noqa: E402
from training.models.frontend import LogMel  # noqa: E402


@pytest.fixture(scope="module")
def trained():
    """A tiny DEITalk trained for a few hundred quick steps on teacher-like data."""
    torch.manual_seed(0)
    net = DEITalk(tiny())
    mel, y, e, k = teacher_batch(32)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    losses = []
    for _ in range(150):
        loss, _ = net.loss(dict(mel=mel, target=y, emotion=e, intensity=k, silence_mel=SILENCE))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return net.eval(), losses


# -- network ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("space", ["arkit", "metahuman"])
def test_forward_shapes_for_any_rig(space):
    net = DEITalk(tiny(space))
    mel = torch.randn(2, 40, 80)
    out = net.predict(mel, torch.eye(8)[:2], torch.ones(2), SILENCE)
    k = len(get_space(space))
    assert out["rig"].shape == (2, 40, k)
    assert out["saliency"].shape == (2, 40) and out["emotion_logits"].shape == (2, 40, 8)
    loss, parts = net.loss(
        dict(
            mel=mel, target=torch.rand(2, 40, k), emotion=torch.eye(8)[:2], intensity=torch.ones(2), silence_mel=SILENCE
        )
    )
    assert torch.isfinite(loss) and set(parts) == {"con", "cla", "pos", "vel"}


def test_paper_defaults_build():
    cfg = DEITalkConfig()
    assert cfg.tcn_dilations == (1, 2, 4, 8, 1, 2, 4, 8) and cfg.tau == 0.07
    assert (cfg.w_con, cfg.w_cla, cfg.w_pos, cfg.w_vel) == (0.1, 0.1, 1.0, 4.0)
    net = DEITalk(cfg)
    assert len(net.decoder) == 8 and net.decoder[0].in_channels == 768 + 16 + 128


def test_network_is_causal_up_to_its_lookahead():
    torch.manual_seed(0)
    assert_causal_up_to_lookahead(DEITalk(tiny()), SILENCE)


def test_torch_log_mel_matches_the_feature_cache():
    x = speechlike(0.5)
    ours = LogMel().frames(torch.from_numpy(x)[None])[0].numpy()
    cache = log_mel(x)
    assert ours.shape == cache.shape
    loud = cache > -10  # compare where there is signal (float32 vs float64 near the floor)
    np.testing.assert_allclose(ours[loud], cache[loud], atol=2e-3)


def test_a_few_steps_lower_the_loss(trained):
    _, losses = trained
    assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:3])


# -- streaming -------------------------------------------------------------------------------------


def test_streaming_equals_offline_for_random_blocks():
    torch.manual_seed(1)
    model = TorchFaceModel(DEITalk(tiny()))
    audio = speechlike(1.5, seed=3)
    for auto in (False, True):
        controls = Controls(emotion=onehot("happy"), intensity=0.8, auto=auto)
        offline, _ = assert_streaming_equals_offline(model, audio, controls)


def test_step_batch_matches_step():
    torch.manual_seed(2)
    model = TorchFaceModel(DEITalk(tiny()))
    audios = [speechlike(0.5, seed=s) for s in (1, 2)]
    ctl = [Controls(emotion=onehot("sad")), Controls(emotion=onehot("angry"), intensity=1.0)]
    single = [model.new_state() for _ in audios]
    batch = [model.new_state() for _ in audios]
    for i in range(0, 8000, 1600):
        blocks = [a[i : i + 1600] for a in audios]
        ref = [model.step(s, b, c) for s, b, c in zip(single, blocks, ctl)]
        got = model.step_batch(batch, blocks, ctl)
        for r, g in zip(ref, got):
            np.testing.assert_allclose(g.frames, r.frames, atol=1e-5)
            np.testing.assert_allclose(g.times, r.times)


# -- controls --------------------------------------------------------------------------------------


def test_controls_move_the_output(trained):
    assert_controls_move_the_face(TorchFaceModel(trained[0]))


# -- checkpoints -----------------------------------------------------------------------------------


def test_checkpoint_round_trip(tmp_path):
    torch.manual_seed(3)
    net = DEITalk(tiny("metahuman"))
    folder = save_checkpoint(tmp_path / "ckpt", net, "deitalk", training={"steps": 0})
    doc = json.loads((folder / "config.json").read_text())
    assert doc["space"] == "metahuman" and doc["frame_rate"] == 100 and doc["training"] == {"steps": 0}
    loaded, _ = load_checkpoint(folder)
    assert loaded.cfg == net.cfg
    for k, v in net.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k])
    model = load_face_model(folder, "cpu")
    assert model.space.name == "metahuman" and model.lookahead == pytest.approx(0.0125 + 0.03)


def test_bad_checkpoints_are_refused_with_the_file_named(tmp_path):
    folder = save_checkpoint(tmp_path / "ckpt", DEITalk(tiny()), "deitalk")
    weights, config = folder / "model.safetensors", folder / "config.json"
    good = weights.read_bytes()
    weights.write_bytes(pickle.dumps({"x": 1}))  # a pickle is never unpickled
    with pytest.raises(InputError, match="model.safetensors"):
        load_checkpoint(folder)
    weights.write_bytes(good)
    doc = json.loads(config.read_text())
    doc["config"]["tcn_channels"] = 48  # weights no longer fit
    config.write_text(json.dumps(doc))
    with pytest.raises(InputError, match="model.safetensors.*do not fit"):
        load_checkpoint(folder)
    config.write_text("{not json")
    with pytest.raises(InputError, match="config.json"):
        load_checkpoint(folder)
    config.unlink()
    with pytest.raises(InputError, match="config.json"):
        load_checkpoint(folder)
    with pytest.raises(InputError, match="not a checkpoint folder"):
        load_checkpoint(tmp_path / "nowhere")


def test_animate_with_a_checkpoint_end_to_end(tmp_path, trained):
    folder = save_checkpoint(tmp_path / "ckpt", trained[0], "deitalk")
    wav = tmp_path / "speech.wav"
    sf.write(wav, speechlike(1.0, seed=5), 16000)
    out = tmp_path / "take.csv"
    result = run_emorig("animate", wav, "-o", out, "--model", folder, "--emotion", "happy", "--quiet")
    assert result.returncode == 0, result.stderr
    from retarget.takes import read_take

    take = read_take(out)
    assert len(take.frames) > 10 and np.ptp(take.frames, axis=0).max() > 0
    bad = run_emorig("animate", wav, "-o", tmp_path / "x.csv", "--model", tmp_path / "missing")
    assert bad.returncode == 2 and "missing" in bad.stderr


# -- the optional transformers front-end -------------------------------------------------------------


def test_hf_audio_encoder_loads_only_from_a_local_folder(tmp_path):
    transformers = pytest.importorskip("transformers")
    from training.models.frontend import HFAudioEncoder

    cfg = transformers.Wav2Vec2Config(
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        conv_dim=(8, 8),
        conv_stride=(5, 4),
        conv_kernel=(10, 8),
        num_conv_pos_embeddings=8,
        num_conv_pos_embedding_groups=2,
    )
    transformers.Wav2Vec2Model(cfg).save_pretrained(tmp_path / "w2v")
    enc = HFAudioEncoder(tmp_path / "w2v")
    feats = enc(torch.from_numpy(speechlike(0.5))[None])
    assert feats.shape == (1, 1 + 8000 // 160, 16)
