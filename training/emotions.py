"""The eight emotion labels emorig speaks of, in the order every probability vector uses.

The order is part of the wire protocol (docs/protocol.md): a frame's emotion
probabilities are sent as eight floats in this order.
"""

EMOTIONS = ("neutral", "happy", "sad", "angry", "surprised", "fear", "disgust", "contempt")


def emotion_index(label: str) -> int:
    """Index of a label; accepts any case and the common synonyms datasets use."""
    key = label.strip().lower()
    key = {"surprise": "surprised", "fearful": "fear", "disgusted": "disgust", "anger": "angry",
           "happiness": "happy", "sadness": "sad", "calm": "neutral"}.get(key, key)
    if key not in EMOTIONS:
        raise ValueError(f"unknown emotion {label!r}; use one of {', '.join(EMOTIONS)}")
    return EMOTIONS.index(key)
