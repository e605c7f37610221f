"""The Unity plugin (engine_plugins/unity/com.emorig.bridge) outside Unity.

Its engine-free core (Runtime/Core: OSC, msgpack, ZMTP 3.0, Live Link Face, name matching, the
lock-free frame hand-over) is compiled with Debian's mono C# compiler at C# 7.2, then:

- its NUnit tests (Tests/Core) run under Debian's NUnit 2.6 console: every golden vector, every
  vector truncated at every length and byte-flipped, ZMTP framing, a two-thread hand-over stress
  test, no allocation per frame, the receivers on loopback sockets;
- here, mutated inputs go through the core and bridge/protocol.py side by side: same verdict,
  same reason, same values, except where the core is documented to be stricter;
- its receivers read emorig's own sinks (OSC compact and Live Link Face over UDP, ZeroMQ through
  a real libzmq PUB socket via pyzmq), malformed messages included;
- its name matching answers like retarget/names.py for many spellings of every rig space.

The Unity-facing code (Runtime/*.cs, Editor/, Tests/Editor/) needs Unity; here it is only compiled
against a stub of the Unity API it uses (Tests/Mono~/UnityApiStubs.cs). Without mono the tests that
need it are skipped with the reason; .ci/setup_mono.sh installs it.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import queue
import random
import re
import shutil
import socket
import struct
import subprocess
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "engine_plugins" / "unity" / "com.emorig.bridge"
VECTORS = ROOT / "tests" / "vectors"
FORMATS = {
    "livelinkface": "llf",
    "osc-compact": "compact",
    "osc-curves": "compact",
    "osc-vrchat": "compact",
    "zmq": "zmq",
}
MISSING = "run .ci/setup_mono.sh as root (Debian: mono-mcs, mono-runtime, nunit-console, libnunit-framework2.6.3-cil)"


def _nunit_framework() -> Path | None:
    candidates = [os.environ.get("EMORIG_NUNIT_FRAMEWORK", "")]
    candidates += sorted(glob.glob("/usr/lib/cli/nunit.framework-2.6*/nunit.framework.dll"))
    candidates += sorted(glob.glob("/usr/lib/mono/**/nunit.framework.dll", recursive=True))
    return next((Path(c) for c in candidates if c and Path(c).is_file()), None)


def _sources(folder: Path) -> list[str]:
    return sorted(str(p) for p in folder.glob("*.cs"))


class Build:
    """The compiled core, its NUnit tests and the probe (Tests/Mono~/Probe.cs) in a temp folder."""

    def __init__(self, out: Path):
        self.out, self.mcs, self.mono = out, shutil.which("mcs"), shutil.which("mono")
        self.nunit_console, nunit = shutil.which("nunit-console"), _nunit_framework()
        if not (self.mcs and self.mono and self.nunit_console and nunit):
            pytest.skip(f"mono, mcs or NUnit is not installed: {MISSING}")
        self.nunit = out / "nunit.framework.dll"
        shutil.copy(nunit, self.nunit)
        self.core = self.compile(
            "Emorig.Bridge.Core.dll", sorted(str(p) for p in (PACKAGE / "Runtime" / "Core").rglob("*.cs"))
        )
        self.tests = self.compile(
            "Emorig.Bridge.Core.Tests.dll", _sources(PACKAGE / "Tests" / "Core"), [self.core, self.nunit]
        )
        probe_sources = [str(PACKAGE / "Tests" / "Mono~" / "Probe.cs"), str(PACKAGE / "Tests" / "Core" / "MiniJson.cs")]
        self.probe = self.compile("probe.exe", probe_sources, [self.core], target="exe")

    def compile(self, name: str, sources, refs=(), defines=(), target: str = "library") -> Path:
        out = self.out / name
        cmd = [self.mcs, "-langversion:7.2", "-warnaserror", f"-target:{target}", f"-out:{out}"]
        cmd += [f"-r:{r}" for r in refs] + [f"-define:{d}" for d in defines] + list(sources)
        built = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert built.returncode == 0, f"mcs failed for {name}:\n{built.stdout}{built.stderr}"
        return out

    def run(self, *args, stdin: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(
            [self.mono, str(self.probe), *map(str, args)], input=stdin, capture_output=True, text=True, timeout=timeout
        )


@pytest.fixture(scope="module")
def build(tmp_path_factory) -> Build:
    return Build(tmp_path_factory.mktemp("unity_core"))


def test_core_passes_its_nunit_tests(build):
    results = build.out / "results.xml"
    env = dict(os.environ, EMORIG_VECTORS=str(VECTORS))
    cmd = [build.nunit_console, "-nologo", "-noshadow", f"-xml={results}", str(build.tests)]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env, cwd=build.out)
    cases = ET.parse(results).getroot().iter("test-case")
    outcome = {
        c.get("name"): (c.get("result"), c.findtext("failure/message") or c.findtext("reason/message")) for c in cases
    }
    bad = {name: why for name, (result, why) in outcome.items() if result != "Success"}
    assert not bad, "\n".join(f"{name}: {why}" for name, why in bad.items()) + "\n" + run.stdout[-3000:]
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert len(outcome) >= 60  # the suites are all there: vectors, fuzzing, ZMTP, hand-over, receivers …


# -- differential: the core against bridge/protocol.py ---------------------------------------------


def _hex(text: str) -> str:
    return text.encode("utf-8").hex()


def _f32(x) -> str:
    with np.errstate(over="ignore"):  # like C#'s (float) cast: huge doubles become inf
        return np.array(x, dtype=">f4").tobytes().hex()


def _f64(x: float) -> str:
    return struct.pack(">d", x).hex()


def _list(items) -> str:
    return "[" + ",".join(items) + "]"


def _int64(n: int) -> int:
    return n - 2**64 if n >= 2**63 else n  # the core keeps frame numbers as a C# long


def describe_reference(protocol, fmt: str, data: bytes) -> str:
    """The line the probe's `decode` mode prints for the same input."""
    try:
        if fmt == "llf":
            d = protocol.decode_livelinkface(data)
            return (
                f"ok llf {_hex(d['device_id'])} {_hex(d['subject'])} {d['frame_number']} {_f32(d['sub_frame'])} "
                f"{d['fps_numerator']} {d['fps_denominator']} {_list(map(_f32, d['values']))}"
            )
        if fmt == "compact":
            d = protocol.decode_osc_compact(data)
            if d["type"] == "names":
                return (
                    f"ok names {_hex(d['subject'])} {d['schema']} {_hex(d['space'])} {_f32(d['fps'])} "
                    f"{_list(map(_hex, d['curves']))}"
                )
            line = (
                f"ok frame {d['timetag']} {_hex(d['subject'])} {d['number']} {_f64(d['time'])} {_hex(d['space'])} "
                f"{_list(map(_f32, d['values']))}"
            )
            if "emotion" not in d:
                return line + " - - -"
            return line + f" {_hex(d['emotion'])} {_f32(d['intensity'])} {_list(map(_f32, d['emotion_probs']))}"
        d = protocol.decode_zmq(data)
        if d["type"] == "static":
            return (
                f"ok static {_hex(d['subject'])} {_hex(d['space'])} {_f64(d['fps'])} {_list(map(_hex, d['curves']))} "
                f"{_list(map(_hex, d['emotions']))}"
            )
        if d["type"] == "frame":  # the plugin keeps probabilities and intensity as float32
            return (
                f"ok zframe {_hex(d['subject'])} {_int64(d['number'])} {_f64(d['time'])} {_hex(d['space'])} "
                f"{_list(map(_f32, d['values']))} {_hex(d['emotion'])} {_list(map(_f32, d['emotion_probs']))} "
                f"{_f32(d['intensity'])}"
            )
        return f"ok other {_hex(d['type'])} {d['schema']}"
    except protocol.ProtocolError as e:
        return f"err {e.reason}"


def mutated_inputs(seed: int = 7):
    """(format, bytes): every vector, every truncation of it, and random byte flips."""
    rng = random.Random(seed)
    for path in sorted(VECTORS.glob("*.bin")):
        fmt = FORMATS[json.loads(path.with_suffix(".json").read_text())["format"]]
        data = path.read_bytes()
        yield fmt, data
        for n in range(len(data)):
            yield fmt, data[:n]
        for _ in range(400):
            b = bytearray(data)
            for _ in range(rng.randint(1, 4)):
                at = rng.randrange(len(b))
                b[at] = rng.randrange(256) if rng.random() < 0.25 else b[at] ^ (1 << rng.randrange(8))
            yield fmt, bytes(b)


def _strict_osc_message(m: bytes) -> bool:
    """Whether the core's OscMessageView.TryParse and python-osc (under the reference) read `m`
    alike: OSC 1.0 exactly, nothing after the last argument, and none of the tags python-osc
    skips without reading their bytes (S, c, I and unknown ones; the core reads S as a string, c
    as 4 bytes, I as none, as the spec says). python-osc also ignores bytes after the last
    argument and pads a float32 cut short with zeros."""

    def string(at: int) -> int | None:
        end = m.find(b"\x00", at)
        if end < 0 or at + ((end - at + 4) & ~3) > len(m):
            return None
        try:
            m[at:end].decode("utf-8")
        except UnicodeDecodeError:
            return None
        return at + ((end - at + 4) & ~3)

    at = string(0) if m.startswith(b"/") else None
    if at is None or at == len(m):
        return at is not None
    tags_at, at = at, string(at)
    if at is None or m[tags_at : tags_at + 1] != b",":
        return False
    for tag in m[tags_at + 1 : m.index(b"\x00", tags_at)].decode():
        if tag == "s":
            at = string(at)
            if at is None:
                return False
            continue
        if tag == "b":
            n = struct.unpack(">i", m[at : at + 4])[0] if at + 4 <= len(m) else -1
            if n < 0 or at + 4 + ((n + 3) & ~3) > len(m):
                return False
            at += 4 + ((n + 3) & ~3)
            continue
        size = {"i": 4, "f": 4, "r": 4, "m": 4, "h": 8, "t": 8, "d": 8, "T": 0, "F": 0, "N": 0}.get(tag)
        if size is None or at + size > len(m):
            return False
        at += size
    return at == len(m)


def _core_is_stricter(data: bytes) -> bool:
    """True if some message of `data` is OSC the core refuses but python-osc reads."""
    if not data.startswith(b"#bundle"):
        return not _strict_osc_message(data)
    at = 16
    while at + 4 <= len(data):
        n = struct.unpack(">i", data[at : at + 4])[0]
        if n <= 0 or at + 4 + n > len(data):
            return False  # bad framing: the reference refuses that itself
        if not _strict_osc_message(data[at + 4 : at + 4 + n]):
            return True
        at += 4 + n
    return False


def test_core_agrees_with_the_reference_decoder(build):
    protocol = pytest.importorskip("bridge.protocol")
    inputs = list(mutated_inputs())
    run = build.run("decode", stdin="".join(f"{fmt} {data.hex()}\n" for fmt, data in inputs))
    assert run.returncode == 0, run.stderr[-4000:]
    core_lines = run.stdout.splitlines()
    assert len(core_lines) == len(inputs)
    logging.disable(logging.WARNING)  # python-osc logs every unknown type tag it skips
    try:
        references = [describe_reference(protocol, fmt, data) for fmt, data in inputs]
    finally:
        logging.disable(logging.NOTSET)
    accepted = stricter = 0
    problems = []
    for (fmt, data), core, ref in zip(inputs, core_lines, references):
        if core == ref:
            accepted += core.startswith("ok")
        elif core.startswith("ok"):
            problems.append(
                f"the core accepts what the reference refuses: {fmt} {data.hex()}\n  core {core[:300]}\n  ref  {ref[:300]}"
            )
        elif (
            fmt == "compact"
            and core in ("err bad_osc", "err bad_arguments", "err non_finite_value")
            and _core_is_stricter(data)
        ):
            stricter += 1
        elif fmt == "compact" and core == "err non_finite_value" and ref.startswith("ok frame"):
            stricter += 1  # a NaN or infinite intensity: the reference does not check it
        else:
            problems.append(f"{fmt} {data.hex()}\n  core {core[:300]}\n  ref  {ref[:300]}")
    assert not problems, f"{len(problems)} disagreements, the first:\n" + "\n".join(problems[:5])
    assert len(inputs) > 20000 and accepted > 30
    assert stricter < len(inputs) // 20


# -- name matching against retarget/names.py -------------------------------------------------------


NOISE = ["", "   ", "jaw", "Left", "_L", "blendShape1.", "\u00c9yeBlinkLeft", "eye\nBlinkLeft", "a.b\nc.jawOpen"]


def _spellings_to_try(curve: str, prefix: str) -> set[str]:
    out = {curve, curve.upper(), curve.lower(), f"  {curve}\t", "blendShape1." + curve, "Face|" + curve, "ns:" + curve}
    out.add("/avatar/parameters/FT/v2/" + curve)
    out.add(re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", curve).lower())  # snake_case
    if curve.endswith("Left") or curve.endswith("Right"):
        out.add(re.sub(r"(Left|Right)$", lambda m: "_" + m.group(1)[0], curve))
    if re.search(r"[a-z][LR]$", curve):
        out.add(curve[:-1] + ("Left" if curve.endswith("L") else "Right"))
        out.add(curve[:-1] + "_" + curve[-1])
    if prefix and curve.startswith(prefix):
        out |= {curve[len(prefix) :], "blendShape1." + curve[len(prefix) :]}
    return out


def test_name_matching_agrees_with_retarget(build):
    from retarget.names import NameIndex
    from retarget.spaces import BUILTIN, get_space

    rng = random.Random(11)
    spaces = {name: (list(get_space(name).curves), get_space(name).optional_prefix) for name in BUILTIN}
    # names whose aliases collide, and side letters that are not sides
    spaces["tricky"] = (["xL", "x_L", "yLeft", "mouthRollLower", "eyeLookUpL", "cornerLPh1", "LR", "L"], "")
    queries = []
    for name, (curves, prefix) in spaces.items():
        for i, curve in enumerate(curves):
            queries += [[name, s, False] for s in sorted(_spellings_to_try(curve, prefix))]
            if i % 5 == 0:
                j = rng.randrange(len(curve))
                queries += [[name, curve[:j] + curve[j + 1 :], True], [name, curve + "x", True]]
        queries += [[name, noise, True] for noise in NOISE]
    cases = build.out / "name_cases.json"
    cases.write_text(
        json.dumps({"spaces": {n: {"curves": c, "prefix": p} for n, (c, p) in spaces.items()}, "queries": queries})
    )
    run = build.run("names", cases)
    assert run.returncode == 0, run.stderr[-4000:]
    answers = [json.loads(line) for line in run.stdout.splitlines()]
    assert len(answers) == len(queries)
    indices = {n: NameIndex(c, p) for n, (c, p) in spaces.items()}
    problems = []
    for (space, query, closest), (found, near) in zip(queries, answers):
        index = indices[space]
        want = index.find(query)
        want_near = index.closest(query) if closest else []
        if (-1 if want is None else want) != found or want_near != near:
            problems.append(f"{space} {query!r}: core {found} {near}, retarget {want} {want_near}")
    assert not problems, f"{len(problems)} of {len(queries)} differ:\n" + "\n".join(problems[:10])
    assert len(queries) > 5000


# -- the receivers against emorig's own sinks --------------------------------------------------------


class Probe:
    """`mono probe.exe udp|zmq …` in the background: JSON lines in, frames and a summary out."""

    def __init__(self, build: Build, *args):
        self.proc = subprocess.Popen(
            [build.mono, str(build.probe), *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.lines: queue.Queue = queue.Queue()
        self.frames = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            doc = json.loads(line)
            self.frames += "number" in doc
            self.lines.put(doc)
        self.lines.put(None)

    def ready(self):
        first = self.lines.get(timeout=30)
        assert first and "ready" in first, f"probe did not start: {first} {self.proc.stderr.read()}"

    @property
    def done(self) -> bool:
        return self.proc.poll() is not None

    def finish(self, timeout: float = 30) -> tuple[list[dict], dict]:
        self.proc.wait(timeout=timeout)
        frames, summary = [], None
        while (doc := self.lines.get(timeout=5)) is not None:
            if "number" in doc:
                frames.append(doc)
            elif "summary" in doc:
                summary = doc
        assert summary, self.proc.stderr.read()
        return frames, summary


def _free_port(kind) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _frame(subject: str, n: int, space_name: str = "arkit"):
    from bridge.frames import Frame
    from retarget.spaces import get_space
    from training.emotions import EMOTIONS

    space = get_space(space_name)
    values = np.array([((n + i) % 64) / 64 for i in range(len(space))], dtype=np.float32)
    probs = np.zeros(len(EMOTIONS), dtype=np.float32)
    probs[EMOTIONS.index("happy")] = 1
    return Frame(subject, n, n / 60, 60.0, space, values, "happy", probs, 0.5)


def _expected_values(n: int, count: int) -> list[float]:
    return [((n + i) % 64) / 64 for i in range(count)]


def _invalid_vectors(*formats) -> list[tuple[bytes, str]]:
    out = []
    for path in sorted(VECTORS.glob("*.json")):
        doc = json.loads(path.read_text())
        if doc["format"] in formats and not doc["valid"]:
            out.append((path.with_suffix(".bin").read_bytes(), doc["reason"]))
    return out


def _counts(reasons) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in reasons:
        counts[r] = counts.get(r, 0) + 1
    return counts


def test_udp_receiver_reads_emorig_osc_and_livelinkface_sinks(build):
    from bridge.sinks import SinkRegistry, open_sink
    from retarget.spaces import get_space

    port, count = _free_port(socket.SOCK_DGRAM), 40
    probe = Probe(build, "udp", port, 2 * count, 20)
    probe.ready()
    invalid = _invalid_vectors("osc-compact", "livelinkface")
    with SinkRegistry() as registry, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as raw:
        osc = open_sink(f"osc://127.0.0.1:{port}", subject="Ada", registry=registry)
        llf = open_sink(f"livelinkface://127.0.0.1:{port}", subject="Lulu", registry=registry)
        for data, _ in invalid:
            raw.sendto(data, ("127.0.0.1", port))
        for n in range(count):
            osc.send(_frame("Ada", n))
            llf.send(_frame("Lulu", n))
            time.sleep(0.002)
        osc.close()
        llf.close()
    frames, summary = probe.finish()

    ada = [f for f in frames if f["subject"] == "Ada"]
    assert [f["number"] for f in ada] == list(range(count))
    assert [f["sequence"] for f in ada] == list(range(1, count + 1))
    for f in ada:
        assert f["space"] == "arkit" and f["time"] == f["number"] / 60 and f["curves"] == 52
        assert f["values"] == _expected_values(f["number"], 52)
        assert f["emotion"] == "happy" and f["intensity"] == 0.5 and f["emotion_probs"][1] == 1
    arkit, live = get_space("arkit"), get_space("livelinkface")
    lulu = [f for f in frames if f["subject"] == "Lulu"]
    assert [f["number"] for f in lulu] == list(range(count))
    for f in lulu:  # the Live Link Face sink renames ARKit curves into Unreal's order
        assert f["space"] == "livelinkface" and f["curves"] == 61 and f["emotion"] is None
        expected = _expected_values(f["number"], 52)
        assert [f["values"][live.index(c)] for c in arkit.curves] == expected
    assert summary["dropped"] == _counts(r for _, r in invalid)
    assert summary["subjects"]["Ada"]["curves"] == list(arkit.curves)
    assert summary["subjects"]["Lulu"]["curves"] == list(live.curves)
    assert "schema 2" in summary["warning"]


def test_zmq_receiver_reads_emorig_zmq_sink(build):
    from bridge.sinks import SinkRegistry, open_sink

    port, count = _free_port(socket.SOCK_STREAM), 30
    # The receiver starts first and keeps retrying, as a Unity scene started before emorig does.
    probe = Probe(build, "zmq", "localhost", port, "Ada", count, 30)
    probe.ready()
    time.sleep(0.3)
    with SinkRegistry() as registry:
        ada = open_sink(f"zmq://127.0.0.1:{port}", subject="Ada", registry=registry)
        ada2 = open_sink(f"zmq://127.0.0.1:{port}", subject="Ada2", registry=registry)  # matches the prefix "Ada"
        n = 0
        while not probe.done and n < 10000:
            ada.send(_frame("Ada", n))
            ada2.send(_frame("Ada2", n))
            n += 1
            time.sleep(0.002)
        ada.close()
        ada2.close()
    frames, summary = probe.finish()
    numbers = [f["number"] for f in frames]
    assert len(frames) >= count and numbers == sorted(set(numbers))
    for f in frames:
        assert f["subject"] == "Ada" and f["space"] == "arkit" and f["time"] == f["number"] / 60
        assert f["values"] == _expected_values(f["number"], 52)
        assert f["emotion"] == "happy" and f["intensity"] == 0.5
    assert summary["ignored"] > 0  # Ada2's messages: same prefix, other subject
    assert set(summary["dropped"]) <= {"waiting_for_names"}  # frames before the first static only
    assert summary["connections"] == 1 and summary["layouts"] >= 1


def test_zmq_receiver_against_a_raw_libzmq_pub_socket(build):
    zmq = pytest.importorskip("zmq")
    vectors = {p.stem: p.read_bytes() for p in VECTORS.glob("zmq_*.bin")}
    invalid = _invalid_vectors("zmq")
    ctx = zmq.Context()
    try:
        pub = ctx.socket(zmq.XPUB)
        pub.setsockopt(zmq.LINGER, 0)
        port = pub.bind_to_random_port("tcp://127.0.0.1")
        probe = Probe(build, "zmq", "127.0.0.1", port, "", 2, 20)
        probe.ready()
        assert pub.poll(20000), "the receiver never subscribed"
        assert pub.recv() == b"\x01"  # libzmq understood our ZMTP 3.0 subscription: everything
        for data, _ in invalid:
            pub.send_multipart([b"Ada", data])
        pub.send_multipart([b"Ada", vectors["zmq_unknown_type"]])
        pub.send_multipart([b"Ada"])
        pub.send_multipart([b"Ada", b"x", b"y"])
        for name in ("zmq_static", "zmq_frame", "zmq_frame_extra_field"):
            pub.send_multipart([b"Ada", vectors[name]])
        frames, summary = probe.finish()
    finally:
        ctx.destroy(linger=0)
    assert [f["number"] for f in frames] == [1234, 1234]
    assert frames[0]["values"][:3] == [0.0, 0.078125, 0.15625] and frames[0]["emotion"] == "happy"
    assert summary["dropped"] == {**_counts(r for _, r in invalid), "bad_multipart": 2}
    assert summary["ignored"] == 1 and "schema 2" in summary["warning"]


# -- Unity-facing code and the package --------------------------------------------------------------


def test_unity_facing_code_compiles_against_api_stubs(build):
    stubs = build.compile("UnityStubs.dll", [str(PACKAGE / "Tests" / "Mono~" / "UnityApiStubs.cs")])
    runtime = _sources(PACKAGE / "Runtime")
    build.compile("player.dll", runtime, [build.core, stubs])  # a player build: no UnityEditor
    editor_runtime = build.compile("Emorig.Bridge.dll", runtime, [build.core, stubs], defines=["UNITY_EDITOR"])
    editor = _sources(PACKAGE / "Editor")
    build.compile("Emorig.Bridge.Editor.dll", editor, [build.core, editor_runtime, stubs], defines=["UNITY_EDITOR"])
    editor_tests = _sources(PACKAGE / "Tests" / "Editor")
    build.compile(
        "Emorig.Bridge.Editor.Tests.dll",
        editor_tests,
        [build.core, editor_runtime, stubs, build.nunit],
        ["UNITY_EDITOR"],
    )


def test_package_layout():
    manifest = json.loads((PACKAGE / "package.json").read_text())
    version = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M).group(1)
    assert manifest["name"] == "com.emorig.bridge" and manifest["version"] == version
    assert re.fullmatch(r"\d{4}\.\d", manifest["unity"])
    asmdefs = {p.stem: json.loads(p.read_text()) for p in PACKAGE.rglob("*.asmdef")}
    names = ["Emorig.Bridge.Core", "Emorig.Bridge", "Emorig.Bridge.Editor", "Emorig.Bridge.Core.Tests"]
    assert sorted(asmdefs) == sorted(names + ["Emorig.Bridge.Editor.Tests"])
    assert all(doc["name"] == name for name, doc in asmdefs.items())
    core = asmdefs["Emorig.Bridge.Core"]
    assert core["noEngineReferences"] is True and core["references"] == []
    assert asmdefs["Emorig.Bridge"]["references"] == ["Emorig.Bridge.Core"]
    assert asmdefs["Emorig.Bridge.Editor"]["includePlatforms"] == ["Editor"]
    for name in ("Emorig.Bridge.Core.Tests", "Emorig.Bridge.Editor.Tests"):
        assert asmdefs[name]["defineConstraints"] == ["UNITY_INCLUDE_TESTS"]
        assert asmdefs[name]["precompiledReferences"] == ["nunit.framework.dll"]
    for source in (PACKAGE / "Runtime" / "Core").rglob("*.cs"):
        assert "UnityEngine" not in source.read_text(), f"{source.name} must not touch UnityEngine"

    # Unity needs a .meta file (a stable GUID) beside every asset and folder of a package installed
    # from git, which is read-only; folders ending in "~" are not imported and need none.
    imported = [p for p in PACKAGE.rglob("*") if not any(part.endswith("~") for part in p.relative_to(PACKAGE).parts)]
    assets = [p for p in imported if p.suffix != ".meta"]
    missing = [str(p.relative_to(PACKAGE)) for p in assets if not Path(str(p) + ".meta").is_file()]
    assert not missing, f"no .meta for: {missing}"
    metas = list(PACKAGE.rglob("*.meta"))
    orphans = [str(m.relative_to(PACKAGE)) for m in metas if not Path(str(m)[: -len(".meta")]).exists()]
    assert not orphans, f".meta without an asset: {orphans}"
    guids = [re.search(r"^guid: ([0-9a-f]{32})$", m.read_text(), re.M).group(1) for m in metas]
    assert len(set(guids)) == len(guids)
