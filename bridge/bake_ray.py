"""`emorig bake --ray ADDRESS`: the same bake with Ray actors as the workers.

One actor per worker holds the model (bridge.bake.Renderer, as a local worker process does);
lines go to them as tasks, in the local bake's groups (bridge.bake.groups: their voice activity
batched), a couple in flight per actor. Takes are written by the actors to the
output folder, which must then be the same path on every node (a shared file system), or with
`--collect` returned as bytes and written here. The journal and the report stay with the driver:
a take whose result never came back (its actor or node was lost) is not journaled and is baked
again on the next run, so an interrupted cluster bake finishes with the same command.
"""

from __future__ import annotations

import os
import signal

from retarget.errors import InputError

from .bake import Bake, Renderer, groups, kill_after


class _Worker:
    """The actor: a Renderer, and the counter of bridge.bake's kill test hook (the first actor only)."""

    def __init__(self, model: str, device: str, vad: str, kill_after: int = 0):
        self.renderer = Renderer(model, device, vad)
        self.kill_after = kill_after
        self.count = 0

    def render(self, jobs: list[dict], collect: bool) -> list[dict]:
        results = self.renderer.render_many(jobs, collect=collect)
        self.count += len(results)
        if self.kill_after and self.count >= self.kill_after:
            os.kill(os.getpid(), signal.SIGKILL)
        return results


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
        queue = iter(groups(todo, n))
        inflight: dict = {}  # object ref -> (actor index, [(line, job), ...])
        dead: set[int] = set()

        def submit(i: int) -> None:
            group = next(queue, None)
            if group is not None:
                inflight[actors[i].render.remote([job for _line, job in group], collect)] = (i, group)

        for _ in range(2):  # two groups per actor: one rendering, one waiting, so none idles on a round trip
            for i in range(n):
                submit(i)
        while inflight:
            ready, _ = ray.wait(list(inflight), num_returns=1)
            for ref in ready:
                i, group = inflight.pop(ref)
                try:
                    results = ray.get(ref)
                except RayActorError as e:
                    dead.add(i)
                    cause = str(e).splitlines()[0] if str(e) else type(e).__name__
                    results = [{"ok": False, "reason": f"the Ray worker baking this line was lost ({cause})"}] * len(
                        group
                    )
                except RayTaskError as e:
                    results = [{"ok": False, "reason": f"Ray task failed: {str(e).splitlines()[0]}"}] * len(group)
                for (line, _job), result in zip(group, results):
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
