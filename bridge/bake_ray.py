"""`emorig bake --ray ADDRESS`: the same bake with Ray actors as the workers.

One actor per worker holds the model (bridge.bake.Renderer, as a local worker process does);
lines go to them as tasks, a couple in flight per actor. Takes are written by the actors to the
output folder, which must then be the same path on every node (a shared file system), or with
`--collect` returned as bytes and written here. The journal and the report stay with the driver:
a take whose result never came back (its actor or node was lost) is not journaled and is baked
again on the next run, so an interrupted cluster bake finishes with the same command.
"""

from __future__ import annotations

import os
import signal

from retarget.errors import InputError

from .bake import Bake, Renderer, kill_after


class _Worker:
    """The actor: a Renderer, and the counter of bridge.bake's kill test hook (the first actor only)."""

    def __init__(self, model: str, device: str, vad: str, kill_after: int = 0):
        self.renderer = Renderer(model, device, vad)
        self.kill_after = kill_after
        self.count = 0

    def render(self, job: dict, collect: bool) -> dict:
        result = self.renderer.render(job, collect=collect)
        self.count += 1
        if self.kill_after and self.count >= self.kill_after:
            os.kill(os.getpid(), signal.SIGKILL)
        return result


def _connect(ray, address: str) -> bool:
    """ray.init for ADDRESS unless this process is already connected; True if we connected."""
    if ray.is_initialized():
        return False
    options = {"include_dashboard": False, "log_to_driver": False, "logging_level": "ERROR"}
    try:
        if address == "local":
            ray.init(**options)  # a one-machine cluster for this bake
        else:
            ray.init(address=address, **options)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise InputError(f"--ray {address}: cannot connect to a Ray cluster ({e})".replace("\n", " ")) from None
    return True


def run_ray(bake: Bake, address: str, jobs: int | None = None, collect: bool = False, device="auto", vad="auto"):
    try:
        import ray
        from ray.exceptions import RayActorError, RayTaskError
    except ImportError:
        raise InputError("--ray needs Ray: pip install 'emorig[ray]'") from None
    todo = list(bake.jobs())
    bake.start_progress(len(todo))
    if not todo:
        return
    connected = _connect(ray, address)
    actors = []
    try:
        n = jobs or max(1, int(ray.cluster_resources().get("CPU", 1)))
        n = min(n, len(todo))
        remote = ray.remote(num_cpus=1)(_Worker)
        actors = [remote.remote(bake.model_spec, device, vad, kill_after() if i == 0 else 0) for i in range(n)]
        queue = iter(todo)
        inflight: dict = {}  # object ref -> (actor index, line)
        dead: set[int] = set()

        def submit(i: int) -> None:
            item = next(queue, None)
            if item is not None:
                inflight[actors[i].render.remote(item[1], collect)] = (i, item[0])

        for _ in range(2):  # two lines per actor: one rendering, one waiting, so none idles on a round trip
            for i in range(n):
                submit(i)
        while inflight:
            ready, _ = ray.wait(list(inflight), num_returns=1)
            for ref in ready:
                i, line = inflight.pop(ref)
                try:
                    result = ray.get(ref)
                except RayActorError as e:
                    dead.add(i)
                    cause = str(e).splitlines()[0] if str(e) else type(e).__name__
                    result = {"ok": False, "reason": f"the Ray worker baking this line was lost ({cause})"}
                except RayTaskError as e:
                    result = {"ok": False, "reason": f"Ray task failed: {str(e).splitlines()[0]}"}
                bake.done(line, result)
                if i not in dead:
                    submit(i)
                elif len(dead) < n:
                    submit(next(k for k in range(n) if k not in dead))  # its share goes to the living
        # Lines never handed out (every actor lost) stay "not done" in the report.
    finally:
        for actor in actors:
            try:
                ray.kill(actor)
            except Exception:  # already gone
                pass
        if connected:
            ray.shutdown()
