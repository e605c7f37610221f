"""The engine: for each subject, audio in -> model -> post-processing -> frame clock -> rig -> sinks.

One `Subject` holds everything that belongs to one avatar (its model state,
controls, post-processing and clock state, sinks); subjects share only the
model weights. `Subject.feed` is the streaming path (any block size);
`Subject.render` is the offline path (the whole file through `model.offline`).
Both use the same post-processing and clock code, so a file streamed live and
the same file rendered offline give the same frames.

`Engine` runs several live subjects: each input is read on its own thread into
a queue; one loop takes whatever blocks have arrived for all subjects, runs the
model on them together (`FaceModel.step_batch`: one batched call on a GPU), and
hands each subject's frames to its sinks.
"""

from __future__ import annotations

import heapq
import logging
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from retarget.mappings import retarget_frames
from retarget.spaces import RigSpace, get_space
from training.emotions import EMOTIONS

from .clock import FrameClock
from .controls import ControlState, EmotionBlender
from .frames import Frame
from .model import Controls, FaceModel, ModelOutput
from .postprocess import PostProcessor, PostSettings

log = logging.getLogger("emorig.engine")

HEAD_CURVES = ("HeadYaw", "HeadPitch", "HeadRoll")
VAD_RATE = 100.0  # voice activity is judged every 10 ms


@dataclass
class SubjectConfig:
    name: str
    space: RigSpace  # the rig the subject's sinks receive
    fps: float = 60.0
    post: PostSettings = field(default_factory=PostSettings)


class Subject:
    def __init__(self, config: SubjectConfig, model: FaceModel, vad, sinks=(), controls: ControlState | None = None):
        self.config = config
        self.model = model
        self.vad = vad
        self.sinks = list(sinks)
        self.controls = controls or ControlState()
        self.arkit = get_space("arkit")
        self.model_state = model.new_state()
        self.post = PostProcessor(self.arkit, model.frame_rate, config.post, model.mouth_smoothed)
        self.clock = FrameClock(config.fps)
        self.blender = EmotionBlender()
        self.speech = np.zeros(0, np.float32)  # voice activity decision per 10 ms frame since the start
        self.voice = np.zeros(0, np.float32)  # speech probability per 10 ms frame (drives head motion)
        self.samples_in = 0
        self.frames_out = 0
        self.latencies: deque[float] = deque(maxlen=100_000)  # seconds from block arrival to frame sent
        self.jitter: deque[float] = deque(maxlen=100_000)  # paced mode: seconds each frame left after its due time
        head = [config.space.find(n) for n in HEAD_CURVES]
        self._head_cols = head if all(h is not None for h in head) else None

    @property
    def name(self) -> str:
        return self.config.name

    # -- shared by the streaming and offline paths ------------------------------------
    def model_controls(self, seconds: float) -> Controls:
        c = self.controls.snapshot()
        auto = c.emotion == "auto"
        weights = self.blender.advance("neutral" if auto else c.emotion, c.transition, seconds)
        return Controls(emotion=weights, intensity=c.intensity, auto=auto)

    def _vad_at(self, track: np.ndarray, times: np.ndarray) -> np.ndarray:
        if len(track) == 0:
            return np.zeros(len(times), np.float32)
        idx = np.clip(np.floor(times * VAD_RATE).astype(int), 0, len(track) - 1)
        return track[idx]

    def _finish(self, out: ModelOutput, mute: bool) -> list[Frame]:
        """Model frames -> post-processing -> clock -> rig -> Frame objects."""
        if len(out) == 0:
            return []
        frames = out.frames
        rest = out.rest
        if self.model.space.name != "arkit":
            frames = retarget_frames(frames, self.model.space, self.arkit)
            rest = None if rest is None else retarget_frames(rest, self.model.space, self.arkit)
        if mute:
            speech = voice = np.zeros(len(out), np.float32)
        else:
            speech, voice = self._vad_at(self.speech, out.times), self._vad_at(self.voice, out.times)
        arkit, head = self.post(frames, rest, speech, voice)
        packed = np.concatenate([arkit, head, out.emotion_probs, out.intensity[:, None]], axis=1)
        numbers, times, values = self.clock(out.times, packed)
        if len(numbers) == 0:
            return []
        n_arkit = len(self.arkit)
        face = values[:, :n_arkit]
        head = values[:, n_arkit : n_arkit + 3]
        probs = values[:, n_arkit + 3 : n_arkit + 3 + len(EMOTIONS)]
        intensity = values[:, -1]
        space = self.config.space
        rig = retarget_frames(face, self.arkit, space) if space.name != "arkit" else face
        if self._head_cols is not None:
            rig[:, self._head_cols] = head
        result = []
        for k in range(len(numbers)):
            p = probs[k] / max(probs[k].sum(), 1e-9)
            result.append(
                Frame(
                    self.name,
                    int(numbers[k]),
                    float(times[k]),
                    self.config.fps,
                    space,
                    rig[k],
                    EMOTIONS[int(np.argmax(p))],
                    p,
                    float(intensity[k]),
                )
            )
        self.frames_out += len(result)
        return result

    # -- streaming ---------------------------------------------------------------------
    def analyse(self, samples: np.ndarray) -> None:
        """Voice activity for new audio (called before the model sees it)."""
        decided = self.vad.process(samples)
        self.speech = np.concatenate([self.speech, decided.speech.astype(np.float32)])
        self.voice = np.concatenate([self.voice, decided.prob.astype(np.float32)])
        self.samples_in += len(samples)

    def feed(self, samples: np.ndarray) -> list[Frame]:
        self.analyse(samples)
        controls = self.model_controls(len(samples) / self.model.sample_rate)
        out = self.model.step(self.model_state, samples, controls)
        return self._finish(out, self.controls.snapshot().mute)

    def flush(self) -> list[Frame]:
        controls = self.model_controls(0.0)
        return self._finish(self.model.flush(self.model_state, controls), self.controls.snapshot().mute)

    def send(self, frames: list[Frame], arrival: float | None = None) -> None:
        for frame in frames:
            for sink in self.sinks:
                sink.send(frame)
            if arrival is not None:
                self.latencies.append(time.monotonic() - arrival)

    # -- offline -----------------------------------------------------------------------
    def render(self, audio: np.ndarray, progress=None) -> list[Frame]:
        """The whole file: model.offline, then post-processing and the clock in chunks."""
        self.analyse(audio)
        controls = self.model_controls(len(audio) / self.model.sample_rate)
        out = self.model.offline(audio, controls)
        frames: list[Frame] = []
        chunk = int(self.model.frame_rate * 10)
        for start in range(0, len(out), chunk):
            part = ModelOutput(
                out.times[start : start + chunk],
                out.frames[start : start + chunk],
                out.emotion_probs[start : start + chunk],
                out.intensity[start : start + chunk],
                None if out.rest is None else out.rest[start : start + chunk],
            )
            frames += self._finish(part, self.controls.snapshot().mute)
            if progress is not None:
                progress(min(len(out), start + chunk) / max(len(out), 1))
        return frames

    def close(self) -> None:
        for sink in self.sinks:
            try:
                sink.close()
            except Exception as e:  # a sink that fails to close must not stop the others
                log.error("closing %s failed: %s", getattr(sink, "url", sink), e)


@dataclass
class _Block:
    subject: Subject
    samples: np.ndarray
    arrival: float


class Engine:
    """Runs live subjects, each with its own audio source, until every source ends or stop()."""

    def __init__(self, subjects: list[tuple[Subject, object]], block_size: int = 160, pace: float | None = None):
        """pace: None sends each frame as soon as it is computed (lowest latency; frames
        leave in small bursts, one per audio block). A number of seconds holds every frame
        until audio-clock start + frame time + pace, so frames leave evenly spaced."""
        self.subjects = subjects  # (subject, audio source)
        self.block_size = block_size
        self.pace = pace
        self._t0: float | None = None  # wall time of audio sample 0
        self._held: list[tuple[float, int, Subject, Frame]] = []  # a heap ordered by due time
        self._seq = 0
        self.blocks: queue.Queue[_Block | None] = queue.Queue(maxsize=1024)
        self.stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self.errors: list[str] = []

    def _read(self, subject: Subject, source) -> None:
        expected = 0
        try:
            for block in source.blocks(self.block_size):
                if self.stopping.is_set():
                    break
                if block.start_sample > expected:
                    # The input lost audio (a microphone was re-opened): silence keeps the
                    # audio clock, and so every later frame time, matching real time.
                    gap = np.zeros(block.start_sample - expected, np.float32)
                    self.blocks.put(_Block(subject, gap, time.monotonic()))
                expected = block.start_sample + len(block.samples)
                self.blocks.put(_Block(subject, block.samples, time.monotonic()))
        except Exception as e:  # reported, the other subjects go on
            self.errors.append(f"{subject.name}: {e}")
            log.error("input of %s failed: %s", subject.name, e)
        finally:
            self.blocks.put(_Block(subject, np.zeros(0, np.float32), -1.0))  # end of this input

    def run(self) -> None:
        for subject, source in self.subjects:
            t = threading.Thread(target=self._read, args=(subject, source), name=f"input-{subject.name}", daemon=True)
            t.start()
            self._threads.append(t)
        live = {s.name for s, _ in self.subjects}
        try:
            while (live or self._held) and not self.stopping.is_set():
                wait = 0.1
                if self._held:
                    wait = max(0.0, min(wait, self._held[0][0] - time.monotonic()))
                try:
                    first = self.blocks.get(timeout=wait)
                except queue.Empty:
                    self._release()
                    continue
                batch = [first]
                while True:  # everything that has arrived, for one batched model call
                    try:
                        batch.append(self.blocks.get_nowait())
                    except queue.Empty:
                        break
                # A subject's end marker comes after all its blocks: step the blocks, then flush.
                self._step_batch([b for b in batch if b.arrival >= 0])
                for item in batch:
                    if item.arrival < 0:
                        self._deliver(item.subject, item.subject.flush(), time.monotonic())
                        live.discard(item.subject.name)
                self._release()
        finally:
            self.stopping.set()
            for subject, source in self.subjects:
                close = getattr(source, "close", None)
                if close:
                    close()
                subject.close()

    def _step_batch(self, batch: list[_Block]) -> None:
        if not batch:
            return
        for item in batch:
            item.subject.analyse(item.samples)
        by_model: dict[int, list[_Block]] = {}
        for item in batch:
            by_model.setdefault(id(item.subject.model), []).append(item)
        for items in by_model.values():
            model = items[0].subject.model
            controls = [it.subject.model_controls(len(it.samples) / model.sample_rate) for it in items]
            outs = model.step_batch([it.subject.model_state for it in items], [it.samples for it in items], controls)
            for it, out in zip(items, outs):
                if self._t0 is None:
                    self._t0 = it.arrival - len(it.samples) / model.sample_rate
                frames = it.subject._finish(out, it.subject.controls.snapshot().mute)
                self._deliver(it.subject, frames, it.arrival)

    def _deliver(self, subject: Subject, frames: list[Frame], arrival: float) -> None:
        if self.pace is None or self._t0 is None:
            subject.send(frames, arrival)
            return
        for frame in frames:
            self._seq += 1
            heapq.heappush(self._held, (self._t0 + frame.time + self.pace, self._seq, subject, frame))

    def _release(self) -> None:
        """Send every held frame that is due."""
        now = time.monotonic()
        while self._held and self._held[0][0] <= now:
            due, _, subject, frame = heapq.heappop(self._held)
            subject.send([frame])
            subject.jitter.append(now - due)

    def stop(self) -> None:
        self.stopping.set()
