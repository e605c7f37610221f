"""`emorig stream`, `emorig animate`, `emorig devices` and `emorig bench`."""

from __future__ import annotations

import logging
import sys
import threading

from retarget.errors import InputError

log = logging.getLogger("emorig")


def _add_face_options(p, sinks: bool = True) -> None:
    p.add_argument(
        "--rig",
        default="livelinkface",
        metavar="SPACE",
        help="rig space of the frames sent and written (default livelinkface: ARKit shapes + head and "
        "eye rotations; also arkit, metahuman, metahuman_2021, vrcft)",
    )
    p.add_argument(
        "--mapping",
        action="append",
        default=[],
        metavar="FILE",
        help="your rig's mapping JSON (see docs/rig-spaces.md)",
    )
    p.add_argument(
        "--fps", type=float, default=60.0, choices=(24.0, 25.0, 30.0, 50.0, 60.0), help="output frame rate (default 60)"
    )
    p.add_argument(
        "--emotion",
        default="neutral",
        help="neutral, happy, sad, angry, surprised, fear, disgust, contempt, or auto (from the voice)",
    )
    p.add_argument(
        "--intensity", type=float, default=0.6, help="emotion intensity, 0..1 (up to 2 exaggerates); default 0.6"
    )
    p.add_argument("--transition", type=float, default=0.4, help="seconds to blend into a new emotion (default 0.4)")
    p.add_argument(
        "--model",
        default="default",
        help="face model: default (the shipped network, docs/model-card.md), reference (DSP, no PyTorch), "
        "or a checkpoint folder from emorig train",
    )
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (default)")
    p.add_argument(
        "--vad", default="auto", choices=("auto", "energy", "silero"), help="voice activity detector (default auto)"
    )
    for stage, what in (
        ("smoothing", "One Euro smoothing"),
        ("silence", "relaxing the mouth in silence"),
        ("blinks", "procedural blinks"),
        ("saccades", "procedural eye saccades"),
        ("head", "procedural head motion"),
    ):
        p.add_argument(f"--no-{stage}", dest=stage, action="store_false", help=f"turn off {what}")
    p.add_argument("--seed", type=int, default=0, help="seed of the procedural blinks, glances and head motion")
    if not sinks:
        return
    p.add_argument(
        "--sink",
        action="append",
        default=[],
        metavar="URL",
        help="where frames go, repeatable: livelinkface://HOST:PORT, osc://HOST:PORT?mode=compact|curves|vrchat, "
        "zmq://HOST:PORT, or a .csv/.json/.npz file (prefix NAME= to send only one subject's frames)",
    )
    p.add_argument("--allow-remote", action="store_true", help="let zmq:// sinks and controls listen beyond 127.0.0.1")


def _split_named(value: str, names: set[str]) -> tuple[str | None, str]:
    """`alice=osc://...` -> ("alice", "osc://..."); an unprefixed value is for every subject."""
    head, sep, rest = value.partition("=")
    if sep and head in names and "://" not in head:
        return head, rest
    return None, value


def _build(args, names: list[str], live: bool = False, model=None, vad_model=None):
    """Subjects (one per name) with their sinks and controls, from the shared options (`model`:
    one already loaded from args.model, so a caller rendering many files loads it once; likewise
    `vad_model`, a loaded Silero network for --vad auto|silero)."""
    from retarget.mappings import load_mapping
    from retarget.spaces import get_space

    from .controls import ControlState, EmotionBlender
    from .engine import Subject, SubjectConfig
    from .postprocess import PostSettings
    from .runtime import load_model, resolve_device
    from .sinks import SinkRegistry, open_sink
    from .vad import make_vad

    space = get_space(args.rig)
    mappings = [load_mapping(p) for p in args.mapping]
    if model is None:
        model = load_model(args.model, resolve_device(args.device, args.model), live=live)
    registry = SinkRegistry()
    wanted = set(names)
    subjects = []
    try:
        for i, name in enumerate(names):
            controls = ControlState()
            controls.update(emotion=args.emotion, intensity=args.intensity, transition=args.transition)
            sinks = []
            for value in args.sink:
                only, url = _split_named(value, wanted)
                if only in (None, name):
                    sinks.append(
                        open_sink(
                            url, subject=name, registry=registry, allow_remote=args.allow_remote, mappings=mappings
                        )
                    )
            post = PostSettings(args.smoothing, args.blinks, args.saccades, args.head, args.silence, seed=args.seed + i)
            vad = make_vad(args.vad, model=vad_model)
            subject = Subject(SubjectConfig(name, space, args.fps, post), model, vad, sinks, controls)
            start = controls.snapshot().emotion
            subject.blender = EmotionBlender("neutral" if start == "auto" else start)  # start in it, not blending in
            subjects.append(subject)
    except BaseException as e:
        for s in subjects:
            s.close()
        registry.close()
        if isinstance(e, ValueError) and not isinstance(e, InputError):
            raise InputError(str(e)) from None
        raise
    return subjects, registry


def _controls_or_error(args):
    try:
        from .controls import ControlState

        ControlState().update(emotion=args.emotion, intensity=args.intensity, transition=args.transition)
    except ValueError as e:
        raise InputError(str(e)) from None


# -- animate --------------------------------------------------------------------------------------


def _animate(args) -> int:
    from tqdm import tqdm

    from .audio import load_audio

    _controls_or_error(args)
    audio = load_audio(args.audio)
    with tqdm(
        total=100,
        desc="animating",
        unit="%",
        disable=args.quiet or None,
        file=sys.stderr,
        bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}",
    ) as bar:

        def progress(fraction):
            bar.update(round(fraction * 100) - bar.n)

        frames, subject = render_take(args, audio, progress=progress)
    print(
        f"{args.audio}: {len(audio) / 16000:.2f} s of audio -> {len(frames)} frames at {args.fps:g} fps "
        f"({subject.config.space.name}) -> {', '.join(s.url for s in subject.sinks)}"
    )
    return 0


def render_take(args, audio, model=None, vad_model=None, progress=None):
    """`emorig animate`'s whole path for one file: args.output (and args.sink) get the frames.
    `emorig bake` calls this per line with a model loaded once, so a baked take is the take
    `animate` writes. Returns (frames, subject)."""
    args.sink = [args.output, *args.sink]
    (subject,), registry = _build(args, [args.subject], model=model, vad_model=vad_model)
    try:
        frames = subject.render(audio, progress)
        subject.send(frames)
    finally:
        subject.close()
        registry.close()
    # A take that could not be written is a failure; a network receiver that was not
    # listening is only worth a note (the take is still complete).
    for sink in subject.sinks:
        if sink.stats.errors and "://" in sink.url and not sink.url.lower().startswith("file://"):
            print(
                f"emorig: note: {sink.url}: {sink.stats.errors} frames not delivered ({sink.stats.last_error})",
                file=sys.stderr,
            )
        elif sink.stats.errors:
            raise InputError(f"{sink.url}: {sink.stats.last_error}")
    return frames, subject


# -- stream ---------------------------------------------------------------------------------------


def _stream(args) -> int:
    from .audio import FileSource, open_input
    from .control import ControlRouter, open_control
    from .engine import Engine

    _controls_or_error(args)
    inputs = args.input or ["mic"]
    names = args.subject or []
    if len(names) < len(inputs):
        names = names + [f"subject{i + 1}" if len(inputs) > 1 else "emorig" for i in range(len(names), len(inputs))]
    if len(names) != len(inputs) or len(set(names)) != len(names):
        raise InputError("give one --input per --subject, with distinct subject names")
    if not args.sink:
        raise InputError("nothing to send to: add --sink URL (e.g. --sink livelinkface://127.0.0.1:11111)")
    sources = []
    player = None
    try:
        for spec in inputs:
            if spec not in ("-",) and not spec.startswith("mic") and not args.realtime:
                raise InputError(
                    f"{spec}: streaming a file needs --realtime (or use `emorig animate` to render it offline)"
                )
            sources.append(
                open_input(
                    spec,
                    realtime=args.realtime,
                    fmt=args.pcm_format,
                    rate=args.pcm_rate,
                    channels=args.pcm_channels,
                    block_ms=args.block_ms,
                )
            )
        subjects, registry = _build(args, names, live=True)
    except BaseException:
        for s in sources:
            s.close()
        raise
    servers = []
    try:
        router = ControlRouter(
            {s.name: s.controls for s in subjects},
            frames_out=lambda n: next(s.frames_out for s in subjects if s.name == n),
        )
        for url in args.control:
            servers.append(open_control(url, router, allow_remote=args.allow_remote))
        pace = None
        if args.play:
            from .devices import Player

            file_sources = [s for s in sources if isinstance(s, FileSource)]
            if len(file_sources) != 1:
                raise InputError("--play plays one input file; give exactly one file with --realtime")
            # The model needs its lookahead before it can show a frame, so the speakers start that
            # much (plus a block and a margin) after the audio starts flowing, and every frame is
            # held until the moment its audio is heard.
            delay = subjects[0].model.lookahead + args.block_ms / 1000 + 0.02
            player = Player(file_sources[0].samples, device=args.output_device)
            threading.Timer(delay, player.start).start()
            pace = delay
        elif args.pace is not None:
            pace = args.pace
        engine = Engine(list(zip(subjects, sources)), block_size=int(16 * args.block_ms), pace=pace)
        print(
            f"streaming {len(subjects)} subject(s): "
            + "; ".join(
                f"{s.name} <- {src.name} -> {', '.join(k.url for k in s.sinks) or 'no sinks'}"
                for s, src in zip(subjects, sources)
            ),
            file=sys.stderr,
        )
        try:
            engine.run()
        except KeyboardInterrupt:
            engine.stop()
            print("emorig: stopped", file=sys.stderr)
    finally:
        for server in servers:
            server.close()
        if player is not None:
            player.close()
        for s in subjects:
            s.close()
        registry.close()
    for s in subjects:
        stats = ", ".join(
            f"{k.url}: {k.stats.sent} sent, {k.stats.dropped} dropped, {k.stats.errors} errors" for k in s.sinks
        )
        print(f"{s.name}: {s.frames_out} frames; {stats}", file=sys.stderr)
    return 0


# -- devices --------------------------------------------------------------------------------------


def _devices(args) -> int:
    from .devices import format_devices

    print(format_devices(kind="output" if args.output else "input"))
    return 0


# -- bench ----------------------------------------------------------------------------------------


def _bench(args) -> int:
    if args.what == "bake":  # the whole command in child processes: no model loaded here
        from .bench_bake import bake

        print(bake(args.seconds or 560.0, args.model, args.rig))
        return 0
    from . import bench
    from .runtime import load_model, resolve_device

    model = load_model(args.model, resolve_device(args.device, args.model), live=args.what != "throughput")
    report = bench.run(args.what, seconds=args.seconds, rig=args.rig, subjects=args.subjects, model=model)
    print(report)
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("animate", help="render an audio file to a take (offline, as fast as it can)")
    p.add_argument("audio", help="speech: wav/flac/ogg, or the audio of mp3/m4a/mov/mp4")
    p.add_argument("-o", "--output", required=True, help="take to write: .csv (Live Link Face take), .json or .npz")
    p.add_argument("--subject", default="emorig", help="subject name carried by the frames")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_face_options(p)
    p.set_defaults(func=_animate)

    p = sub.add_parser("stream", help="live: microphone, stdin or a file in real time -> sinks")
    p.add_argument(
        "--input",
        action="append",
        metavar="SOURCE",
        help="mic, mic:DEVICE (index or part of its name), - (raw PCM on stdin), or an audio file with "
        "--realtime; repeat with --subject for several avatars (default: mic)",
    )
    p.add_argument("--subject", action="append", metavar="NAME", help="subject name per --input (default emorig)")
    p.add_argument("--realtime", action="store_true", help="play files at their own speed, as if spoken live")
    p.add_argument("--play", action="store_true", help="also play the input file on this machine's speakers, in sync")
    p.add_argument(
        "--output-device",
        metavar="DEVICE",
        help="--play on this output (index or part of its name; see emorig devices --output)",
    )
    p.add_argument(
        "--pace",
        type=float,
        metavar="SECONDS",
        help="send frames evenly spaced, this long after their audio (default: as soon as computed)",
    )
    p.add_argument("--block-ms", type=float, default=10.0, help="audio block length in ms (default 10)")
    p.add_argument(
        "--control",
        action="append",
        default=[],
        metavar="URL",
        help="accept live controls: osc://127.0.0.1:PORT or zmq://127.0.0.1:PORT (see docs/protocol.md)",
    )
    p.add_argument("--pcm-format", default="s16le", choices=("s16le", "f32le"), help="raw PCM on stdin: sample format")
    p.add_argument("--pcm-rate", type=int, default=16000, help="raw PCM on stdin: sample rate (default 16000)")
    p.add_argument("--pcm-channels", type=int, default=1, help="raw PCM on stdin: channels (default 1)")
    _add_face_options(p)
    p.set_defaults(func=_stream)

    p = sub.add_parser("devices", help="list audio input devices (for --input mic:DEVICE)")
    p.add_argument("--output", action="store_true", help="list output devices instead (for --play)")
    p.set_defaults(func=_devices)

    p = sub.add_parser(
        "bench", help="measure latency, frame jitter, throughput, concurrent streams or a bake (see docs/benchmarks.md)"
    )
    p.add_argument("what", choices=("latency", "jitter", "throughput", "streams", "model", "bake"))
    p.add_argument("--seconds", type=float, default=None, help="how long to measure (defaults per benchmark)")
    p.add_argument("--rig", default="livelinkface", help="rig space of the frames (default livelinkface)")
    p.add_argument("--subjects", type=int, nargs="*", default=None, help="streams: subject counts to try")
    p.add_argument("--model", default="default", help="face model to measure (default, reference, or a checkpoint)")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (default)")
    p.set_defaults(func=_bench)
