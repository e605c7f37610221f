"""The eight emotion labels emorig speaks of, in the order every probability vector uses.

The order is part of the wire protocol (docs/protocol.md): a frame's emotion
probabilities are sent as eight floats in this order.
"""

EMOTIONS = ("neutral", "happy", "sad", "angry", "surprised", "fear", "disgust", "contempt")


def emotion_index(label: str) -> int:
    """Index of a label; accepts any case and the common synonyms datasets use."""
    key = label.strip().lower()
    key = {
        "surprise": "surprised",
        "fearful": "fear",
        "disgusted": "disgust",
        "anger": "angry",
        "happiness": "happy",
        "sadness": "sad",
        "calm": "neutral",
    }.get(key, key)
    if key not in EMOTIONS:
        raise ValueError(f"unknown emotion {label!r}; use one of {', '.join(EMOTIONS)}")
    return EMOTIONS.index(key)


def emotion_overlays():
    """[8 x 52] ARKit offsets per emotion at full intensity, from data/emotion_overlays.tsv."""
    from importlib import resources

    import numpy as np

    from retarget.spaces import get_space

    arkit = get_space("arkit")
    table = np.zeros((len(EMOTIONS), len(arkit)), dtype=np.float32)
    text = resources.files("training").joinpath("data").joinpath("emotion_overlays.tsv").read_text("utf-8")
    rows = [line.split("\t") for line in text.splitlines() if line.strip() and not line.startswith("#")]
    for emotion, curve, weight in rows[1:]:
        table[emotion_index(emotion), arkit.index(curve)] = float(weight)
    return table
