"""`emorig bake`: a whole dialogue library through one loaded model, resumable.

A bake is a list of lines (bridge/bake_lines.py finds them in a folder, a glob or a dialogue
table). Each line is rendered exactly as `emorig animate LINE -o TAKE` renders it (the same
`render_take`, so the same VAD, post-processing, clock, retargeting and take writer), by a
worker that loaded the model once: in this process, in local worker processes (`--jobs`), or
in Ray actors (bridge/bake_ray.py).

The freshness journal (OUT_DIR/.emorig-bake.jsonl, one JSON object per finished take, appended
as each finishes) records what made every output: the audio's size and mtime, the model's
identity (a hash of its files) and a hash of the line's options. A line whose output still has
the size and mtime the journal recorded, and whose audio, model and options are unchanged, is
skipped; so a bake stopped at any point (Ctrl-C, kill, a lost node) re-run with the same command
does only what is missing. Takes are written atomically (retarget.fileio), so an output that
exists is complete; the journal is appended after the take is in place, so a line that died in
between is baked again, never trusted half-done.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from retarget.errors import InputError

JOURNAL = ".emorig-bake.jsonl"
REPORT = "bake-report.jsonl"
JOURNAL_VERSION = 1  # part of every options hash: a change in what a bake means re-bakes everything

# The options of `emorig animate` that shape a take, all of them per line (a table may set some).
RENDER_OPTIONS = (
    "rig",
    "mapping",
    "fps",
    "emotion",
    "intensity",
    "transition",
    "model",
    "device",
    "vad",
    "smoothing",
    "silence",
    "blinks",
    "saccades",
    "head",
    "seed",
    "subject",
)


@dataclass
class Line:
    """One line of dialogue to bake: where its audio is, where its take goes, its own options."""

    number: int  # 1-based: the row of a table (its line in the file), else the position in the bake
    audio: str
    output: str  # path relative to OUT_DIR
    id: str | None = None
    options: dict = field(default_factory=dict)  # RENDER_OPTIONS values for this line


@dataclass
class Failure:
    """A line (or table row) that cannot be baked, and why."""

    number: int
    reason: str
    audio: str | None = None
    output: str | None = None
    id: str | None = None


# -- identities -----------------------------------------------------------------------------------


def model_identity(spec: str) -> str:
    """What the model is, cheaply and without loading it: the reference model's source, or a hash
    of the checkpoint folder's files (names, sizes and contents; a few MB)."""
    if spec == "reference":
        source = Path(__file__).with_name("reference_model.py").read_bytes()
        return "reference:" + hashlib.sha256(source).hexdigest()[:16]
    if spec == "default":
        from importlib.util import find_spec

        found = find_spec("training")
        if found is None or not found.submodule_search_locations:
            raise InputError("the default model is not installed (the training package is missing)")
        folder = Path(list(found.submodule_search_locations)[0]) / "default_model"
    else:
        folder = Path(spec)
    if not folder.is_dir():
        raise InputError("model: no such checkpoint folder (or use default or reference)", path=spec)
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(str(path.relative_to(folder)).encode() + b"\0")
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    return f"{spec if spec == 'default' else folder.resolve()}:{digest.hexdigest()[:16]}"


def _file_hash(path: str) -> str:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]
    except OSError:
        return "missing"


def options_hash(options: dict, fmt: str) -> str:
    """The line's options, its output format and the mapping files' contents, as one short hash."""
    doc = dict(options)
    doc["mapping"] = [(str(m), _file_hash(m)) for m in options.get("mapping", [])]
    doc["format"] = fmt
    doc["version"] = JOURNAL_VERSION
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _stat(path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


# -- the journal ----------------------------------------------------------------------------------


class Journal:
    """OUT_DIR/.emorig-bake.jsonl: the latest record per output. Appended line by line (a kill can
    only cut the last line, which is then ignored); compacted to one line per output on open."""

    def __init__(self, out_dir: Path):
        self.path = out_dir / JOURNAL
        self.entries: dict[str, dict] = {}
        if self.path.exists():
            for text in self.path.read_text("utf-8", errors="replace").splitlines():
                try:
                    entry = json.loads(text)
                except json.JSONDecodeError:
                    continue  # the line a kill cut short
                if isinstance(entry, dict) and isinstance(entry.get("output"), str):
                    self.entries[entry["output"]] = entry
        from retarget.fileio import atomic_write_text

        atomic_write_text(self.path, "".join(json.dumps(e, sort_keys=True) + "\n" for e in self.entries.values()))
        self._file = open(self.path, "a", encoding="utf-8")

    def fresh(self, line: Line, out_dir: Path, model_id: str, opts: str) -> bool:
        entry = self.entries.get(line.output)
        if entry is None:
            return False
        audio, out = _stat(line.audio), _stat(out_dir / line.output)
        return (
            audio is not None
            and out is not None
            and entry.get("audio") == str(line.audio)
            and entry.get("audio_stat") == list(audio)
            and entry.get("output_stat") == list(out)
            and entry.get("model") == model_id
            and entry.get("options") == opts
        )

    def record(self, line: Line, out_dir: Path, model_id: str, opts: str, audio_stat) -> None:
        out = _stat(out_dir / line.output)
        if out is None or audio_stat is None:
            return
        entry = {
            "output": line.output,
            "audio": str(line.audio),
            "audio_stat": list(audio_stat),
            "output_stat": list(out),
            "model": model_id,
            "options": opts,
        }
        self.entries[line.output] = entry
        self._file.write(json.dumps(entry, sort_keys=True) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


# -- rendering one line (in whichever process holds the model) --------------------------------------


def one_blas_thread() -> None:
    """Pin numpy's and scipy's OpenBLAS to one thread in this process. The per-frame matrices of
    retargeting are tiny, and OpenBLAS's idle threads spin: measured on 2 cores, a one-process bake
    burnt 7.2 s of CPU for 5.0 s of wall time, 4.9 s with one thread, and two workers went from
    3.9 to 3.2 s. (OPENBLAS_NUM_THREADS works only before numpy loads; this works after, as
    threadpoolctl does.)"""
    import ctypes

    try:
        with open("/proc/self/maps") as f:
            libs = {line.split()[-1] for line in f if "openblas" in line.lower() and line.rstrip().endswith(".so")}
    except OSError:  # not Linux: leave the libraries' own choice
        return
    names = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads", "openblas_set_num_threads64_")
    for path in libs:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in (*names, "openblas_set_num_threads"):
            if hasattr(lib, name):
                getattr(lib, name)(1)
                break


class Renderer:
    """A worker's model, loaded once, and the one call that renders a line into a take."""

    def __init__(self, model_spec: str, device: str = "auto", vad: str = "auto"):
        from .runtime import load_model, resolve_device

        one_blas_thread()

        self.model = load_model(model_spec, resolve_device(device, model_spec))
        self._vad = vad
        self._vad_model = self._vad_loaded = None

    @property
    def vad_model(self):
        """The Silero network shared by the lines, one at a time; loaded on first need (a worker
        whose lines all had their voice activity computed ahead never loads it). None when it cannot
        load: make_vad then falls back (auto) or says why (silero), per line."""
        if not self._vad_loaded:
            self._vad_loaded = True
            if self._vad in ("auto", "silero"):
                from .vad import SileroUnavailable, load_silero

                try:
                    self._vad_model = load_silero()
                except SileroUnavailable:
                    self._vad_model = None
        return self._vad_model

    def render_many(self, jobs: list[dict], collect: bool = False) -> list[dict]:
        """Several lines, their voice activity computed side by side first (one batched Silero call
        per 32 ms step for all of them: the VAD was as costly as the network, one call per window
        per line), then each rendered as `render` does. The takes are the ones `render` writes.
        Probabilities computed ahead for exactly this group (run_local's VAD_AHEAD) are used as they are."""
        from .audio import load_audio
        from .vad import ReplayModel, window_probabilities

        read: dict[int, tuple] = {}
        for i, job in enumerate(jobs):
            audio_stat = _stat(job["audio"])
            try:
                read[i] = (audio_stat, load_audio(job["audio"]))
            except Exception:  # render() reads it again and reports why, as for a single line
                pass
        keys = [i for i in sorted(read) if _uses_silero(jobs[i])]
        ahead = VAD_AHEAD.get(tuple((jobs[i]["audio"], read[i][0]) for i in keys)) if keys else None
        if ahead is not None:  # only a batching backend computes ahead, and only onnxruntime's batches
            probs, backend = ahead, "onnxruntime"
        else:
            probs = (
                window_probabilities(self.vad_model, [read[i][1] for i in keys]) if keys and self.vad_model else None
            )
            backend = None if probs is None else self.vad_model.backend
        replays = {} if probs is None else {i: ReplayModel(p, backend) for i, p in zip(keys, probs)}
        return [self.render(job, collect, read.get(i), replays.get(i)) for i, job in enumerate(jobs)]

    def render(self, job: dict, collect: bool = False, read: tuple | None = None, vad_model=None) -> dict:
        """job: {"audio", "path" (the take to write), "options"}. Returns {"ok", "reason"?,
        "seconds" (of audio), "audio_stat" (before reading), "data"? (the take's bytes, collect)}.
        `read`: (audio_stat, samples) already taken; `vad_model`: this line's VAD network."""
        import argparse

        from .audio import load_audio
        from .cli_stream import _controls_or_error, render_take

        audio_stat = _stat(job["audio"]) if read is None else read[0]
        if vad_model is None and _uses_silero(job):
            vad_model = self.vad_model
        try:
            args = argparse.Namespace(**job["options"], sink=[], allow_remote=False)
            _controls_or_error(args)
            samples = load_audio(job["audio"]) if read is None else read[1]
            target = Path(job["path"])
            if collect:
                # Rendered into a private folder and handed back as bytes: the driver writes it.
                with tempfile.TemporaryDirectory(prefix="emorig-bake-") as tmp:
                    args.output = str(Path(tmp) / target.name)
                    render_take(args, samples, model=self.model, vad_model=vad_model)
                    if not Path(args.output).exists():
                        raise InputError("the audio is too short to make a single frame", path=job["audio"])
                    data = Path(args.output).read_bytes()
                return {"ok": True, "seconds": len(samples) / 16000, "audio_stat": audio_stat, "data": data}
            target.parent.mkdir(parents=True, exist_ok=True)
            args.output = str(target)
            render_take(args, samples, model=self.model, vad_model=vad_model)
            if not target.exists():
                raise InputError("the audio is too short to make a single frame", path=job["audio"])
            return {"ok": True, "seconds": len(samples) / 16000, "audio_stat": audio_stat}
        except InputError as e:
            return {"ok": False, "reason": str(e)}
        except Exception as e:  # one line's bug or damage must not stop the others; it is reported
            return {"ok": False, "reason": f"{type(e).__name__}: {e}".replace("\n", " ")}


def _uses_silero(job: dict) -> bool:
    return job["options"].get("vad", "auto") in ("auto", "silero")


# -- voice activity ahead of the model ------------------------------------------------------------
# Silero needs only onnxruntime, the network torch (~1 s to import, during which the other core
# idles). So run_local forks a child before torch loads that runs Silero over every group of lines,
# batched exactly as render_many would batch it (the same probabilities), while this process
# imports torch; the workers fork after that and inherit the results here. Keyed by the group:
# ((audio path, (size, mtime) before reading), ...) of the lines that use Silero, in order.
VAD_AHEAD: dict[tuple, list] = {}


def _vad_ahead_child(batches: list[list[str]], conn) -> None:
    result: dict[tuple, list] = {}
    try:
        from .audio import load_audio
        from .vad import load_silero, window_probabilities

        model = load_silero()
        for paths in batches:
            read = []
            for path in paths:
                audio_stat = _stat(path)
                try:
                    read.append((path, audio_stat, load_audio(path)))
                except Exception:  # the worker reports it; the group's other lines still batch
                    pass
            if not read:
                continue
            probs = window_probabilities(model, [samples for _p, _s, samples in read])
            if probs is None:  # a backend that cannot batch: the workers do it as before
                break
            result[tuple((path, audio_stat) for path, audio_stat, _x in read)] = probs
    except Exception:  # anything at all: the workers compute what is missing themselves
        pass
    conn.send(result)
    conn.close()


def start_vad_ahead(batches: list[list[dict]]):
    """Fork the child that computes the Silero probabilities of these groups of jobs; None where
    it cannot (no fork on this platform, nothing that uses Silero)."""
    import multiprocessing

    batches = [[job["audio"] for job in batch if _uses_silero(job)] for batch in batches]
    if "fork" not in multiprocessing.get_all_start_methods() or not any(batches):
        return None
    ctx = multiprocessing.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_vad_ahead_child, args=(batches, send), daemon=True)
    child.start()
    send.close()
    return child, recv


def finish_vad_ahead(started) -> None:
    """Wait for start_vad_ahead's child and keep what it computed in VAD_AHEAD."""
    if started is None:
        return
    child, recv = started
    try:
        VAD_AHEAD.update(recv.recv())
    except (EOFError, OSError):  # the child died: the workers compute it
        pass
    finally:
        recv.close()
        child.join()


# A test hook, not an option: a worker kills its own process (SIGKILL, as the OOM killer or a lost
# node would) after rendering this many lines, before handing the last one back.
KILL_AFTER_ENV = "EMORIG_BAKE_TEST_KILL_AFTER"


def kill_after() -> int:
    try:
        return max(0, int(os.environ.get(KILL_AFTER_ENV, "0") or 0))
    except ValueError:
        return 0


# The worker processes' own renderer (one per process, made by the pool's initializer).
_WORKER: Renderer | None = None
_DONE = 0


def _init_worker(model_spec: str, device: str, vad: str) -> None:
    global _WORKER
    _WORKER = Renderer(model_spec, device, vad)


def _work(jobs: list[dict]) -> list[dict]:
    global _DONE
    results = _WORKER.render_many(jobs)
    _DONE += len(results)
    if kill_after() and _DONE >= kill_after():
        import signal

        os.kill(os.getpid(), signal.SIGKILL)
    return results


GROUP = 16  # lines a worker renders together (their VAD batched); fewer when that starves the workers


def groups(todo: list, jobs: int) -> list[list]:
    """The lines in groups of up to GROUP, at least four groups per worker so none waits long at the end."""
    size = max(1, min(GROUP, -(-len(todo) // (4 * jobs))))
    return [todo[i : i + size] for i in range(0, len(todo), size)]


# -- the bake --------------------------------------------------------------------------------------


@dataclass
class Outcome:
    baked: int = 0
    fresh: int = 0
    failed: int = 0
    not_done: int = 0
    seconds: float = 0.0  # of audio baked
    records: list = field(default_factory=list)


def default_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


class Bake:
    """Everything a bake needs besides the lines' runner: the plan (what to do, what is fresh) and
    the bookkeeping of results (journal, report, progress)."""

    def __init__(self, lines: list[Line], failures: list[Failure], out_dir: Path, fmt: str, model: str, quiet=False):
        self.out_dir = out_dir
        self.fmt = fmt
        self.model_spec = model
        self.model_id = model_identity(model)
        self.lines = lines
        self.outcome = Outcome()
        self.quiet = quiet
        self._failures = failures
        self._status: dict[int, dict] = {}
        out_dir.mkdir(parents=True, exist_ok=True)
        self.journal = Journal(out_dir)
        self.todo: list[Line] = []
        self._opts = {}
        for line in lines:
            opts = options_hash(line.options, fmt)
            self._opts[line.number] = opts
            if self.journal.fresh(line, out_dir, self.model_id, opts):
                self.outcome.fresh += 1
                self._status[line.number] = {"status": "up to date"}
            else:
                self.todo.append(line)
        for f in failures:
            self.outcome.failed += 1
            self._status[f.number] = {"status": "failed", "reason": f.reason}
        self._bar = None

    def jobs(self) -> Iterator[tuple[Line, dict]]:
        # Absolute paths: a worker (a Ray actor above all) need not share this process's cwd.
        out_dir = self.out_dir.resolve()
        for line in self.todo:
            job = {"audio": str(Path(line.audio).resolve()), "path": str(out_dir / line.output)}
            yield line, job | {"options": line.options}

    # results ----------------------------------------------------------------------------------
    def start_progress(self, total: int) -> None:
        from tqdm import tqdm

        self._bar = tqdm(
            total=total,
            desc="baking",
            unit=" lines",
            disable=self.quiet or None,
            file=sys.stderr,
            smoothing=0.1,
            bar_format="{desc}: {n_fmt}/{total_fmt} |{bar}| {rate_fmt} {elapsed}<{remaining} ETA",
        )

    def done(self, line: Line, result: dict) -> None:
        """A worker's result for a line: journal and status (the take, if any, is already written)."""
        if result.get("ok") and "data" in result:
            from retarget.fileio import atomic_write_bytes

            path = self.out_dir / line.output
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                atomic_write_bytes(path, result["data"])
            except OSError as e:
                result = {"ok": False, "reason": f"{path}: cannot write the take ({e.strerror or e})"}
        if result.get("ok"):
            self.journal.record(line, self.out_dir, self.model_id, self._opts[line.number], result.get("audio_stat"))
            self.outcome.baked += 1
            self.outcome.seconds += result.get("seconds", 0.0)
            self._status[line.number] = {"status": "baked"}
        else:
            self.fail(line, result.get("reason", "failed"))
        if self._bar is not None:
            self._bar.update(1)

    def fail(self, line: Line, reason: str) -> None:
        self.outcome.failed += 1
        self._status[line.number] = {"status": "failed", "reason": reason}
        if self._bar is not None:
            self._bar.write(f"emorig: bake: line {line.number}: {reason}", file=sys.stderr)
        else:
            print(f"emorig: bake: line {line.number}: {reason}", file=sys.stderr)

    def finish(self) -> Outcome:
        """Close the journal, sweep what killed workers left half-written, write the report."""
        if self._bar is not None:
            self._bar.close()
        self.journal.close()
        self._sweep_temporaries()
        records = []
        rows = [asdict(f) for f in self._failures]
        rows += [{"number": ln.number, "id": ln.id, "audio": ln.audio, "output": ln.output} for ln in self.lines]
        for row in sorted(rows, key=lambda r: r["number"]):
            status = self._status.get(row["number"])
            if status is None:
                status = {"status": "not done", "reason": "the bake stopped before this line"}
                self.outcome.not_done += 1
            record = {
                "line": row["number"],
                "id": row.get("id"),
                "audio": row.get("audio"),
                "output": row.get("output"),
            }
            record.update(status)
            records.append(record)
        from retarget.fileio import atomic_write_text

        atomic_write_text(self.out_dir / REPORT, "".join(json.dumps(r) + "\n" for r in records))
        self.outcome.records = records
        return self.outcome

    def _sweep_temporaries(self) -> None:
        """A worker killed while writing leaves its temporary (retarget.fileio's `.NAME.*.tmp`)
        beside the take; nothing else makes files of that name there."""
        folders: dict[Path, set[str]] = {}
        for line in self.lines:
            path = self.out_dir / line.output
            folders.setdefault(path.parent, set()).add(path.name)
        for folder, names in folders.items():
            try:
                entries = list(os.scandir(folder))
            except OSError:
                continue
            for entry in entries:
                name = entry.name
                if name.startswith(".") and name.endswith(".tmp") and name[1:].rsplit(".", 2)[0] in names:
                    try:
                        os.unlink(entry.path)
                    except OSError:
                        pass


def run_local(bake: Bake, jobs: int, device: str = "auto", vad: str = "auto") -> None:
    """The lines through this process (jobs 1) or a pool of worker processes, each with its model."""
    todo = list(bake.jobs())
    bake.start_progress(len(todo))
    if not todo:
        return
    jobs = max(1, min(jobs, len(todo)))
    batches = groups(todo, jobs)
    # The reference model imports no torch: nothing to overlap, its workers run Silero themselves.
    ahead = None if bake.model_spec == "reference" else start_vad_ahead([[j for _l, j in b] for b in batches])
    if jobs == 1:
        try:
            renderer = Renderer(bake.model_spec, device, vad)
        finally:
            finish_vad_ahead(ahead)
        for group in batches:
            for (line, _job), result in zip(group, renderer.render_many([job for _line, job in group])):
                bake.done(line, result)
        return
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    # fork: workers start in milliseconds with what this process imported (torch, before any of
    # its threads exist: the model is loaded in each worker, never here), and VAD_AHEAD.
    try:
        if bake.model_spec != "reference":
            import torch  # noqa: F401

            import training.inference  # noqa: F401
    finally:
        finish_vad_ahead(ahead)
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    pool = ProcessPoolExecutor(
        jobs,
        mp_context=multiprocessing.get_context(method),
        initializer=_init_worker,
        initargs=(bake.model_spec, device, vad),
    )
    pending: dict = {}
    queue = iter(batches)
    broken = False
    try:
        # A few lines in flight per worker: enough to keep them busy, few enough that Ctrl-C or a
        # lost worker leaves little in limbo (those lines are simply not journaled).
        for group in queue:
            pending[pool.submit(_work, [job for _line, job in group])] = group
            if len(pending) >= 2 * jobs:
                break
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                group = pending.pop(future)
                try:
                    results = future.result()
                except BrokenProcessPool:
                    # The pool cannot go on; the lines not yet started stay "not done" for a re-run.
                    broken = True
                    results = [{"ok": False, "reason": "a worker process died while baking this line"}] * len(group)
                for (line, _job), result in zip(group, results):
                    bake.done(line, result)
                nxt = None if broken else next(queue, None)
                if nxt is not None:
                    pending[pool.submit(_work, [job for _line, job in nxt])] = nxt
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
