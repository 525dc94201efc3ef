"""Engines side by side: local unpipelined, local pipelined, Ray with 1 and 2 workers.

Same images, same models, one run. Two jobs:

- ``autolabel --plugin yolo_sam`` with the sample models on the sample scenes;
- ``check --plugin orientation`` (a per-image check: text-direction models) on the sample
  receipts.

Each configuration runs in a fresh process on a fresh copy of the images, so that its peak
memory (``ru_maxrss``: the driver's, Ray workers are other processes) is its own. "images/s"
counts the whole run from the call on, model loading (in every Ray worker) included; "after
start-up" counts from the moment the models were loaded (every worker ready) to the end, which
is what a large set sees. The Ray runs start a local 2-CPU cluster first (not counted). With
``--repeat N`` the configurations run round-robin N times and each figure is the median (the
machine's other load moves between runs).

Then the driver alone: how fast it merges and writes answers that are already there (yolo_sam
predictions replayed for 400 images, no model running), i.e. how many workers one driver can
feed.

    python bench/scale.py                 # everything (several minutes on 2 cores)
    python bench/scale.py --only check    # one job
    python bench/scale.py --only autolabel --size 1600 --threads 1 --repeat 3   # photo-sized JPEGs
    python bench/scale.py --cpu-share     # the CPU share 1 and 2 Ray workers get (pure CPU)

``--size`` upscales every image to that long side (JPEG, quality 92; no label files), so that
decoding costs what it costs on photos; ``--threads N`` sets ``LABELER_THREADS`` for the local
engines' models (Ray workers always use one thread each: their CPU share).

Besides the rates, each local run reports the CPU time its model's thread spent in the plugin
per image (``model thread CPU ms/image``: the whole ``predict`` unpipelined, only ``infer``
pipelined when the plugin splits its predict) and the driver process's CPU time per image (all
its threads): figures that hold on a loaded machine, where wall-clock rates do not.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "sample_data"
MODELS = {"yolo": {"model": str(SAMPLE / "models" / "scenes_yolo.pt")},
          "sam": {"checkpoint": str(SAMPLE / "models" / "scenes_sam_tiny.pth")}}
CONFIGS = ("local-unpipelined", "local-pipelined", "ray-1", "ray-2")
JOBS = {
    "autolabel": ("autolabelers", "yolo_sam", MODELS, SAMPLE / "scenes"),
    "check": ("checks", "orientation", {}, SAMPLE / "receipts"),
}


def _images(src: Path, dest: Path, copies: int, size: int | None = None) -> Path:
    """``copies`` copies of every image of ``src`` (with its label file) under ``dest``.

    ``size``: each image upscaled to that long side and saved as a JPEG (quality 92), as photos
    from a camera are (decoding then costs what it costs on real data); no label files then.
    """
    from PIL import Image

    dest.mkdir(parents=True)
    for n in range(copies):
        for f in sorted(src.iterdir()):
            if f.suffix.lower() not in (".jpg", ".png", ".json") or (size and f.suffix == ".json"):
                continue
            target = dest / (f"{f.stem}_{n}{f.suffix}" if copies > 1 else f.name)
            if size and f.suffix != ".json":
                with Image.open(f) as im:
                    scale = size / max(im.size)
                    big = im.convert("RGB").resize(
                        (round(im.width * scale), round(im.height * scale)), Image.Resampling.BICUBIC)
                big.save(target.with_suffix(".jpg"), quality=92)
            else:
                shutil.copy(f, target)
    if copies > 1:  # imagePath follows the copy's name
        for js in dest.glob("*.json"):
            doc = json.loads(js.read_text())
            image = next(p for p in dest.glob(js.stem + ".*") if p.suffix != ".json")
            doc["imagePath"] = image.name
            js.write_text(json.dumps(doc))
    return dest


def _engine(config: str, batch_size: int | None):  # type: ignore[no-untyped-def]
    from labeler.engines.local import LocalEngine
    from labeler.engines.ray_engine import RayEngine

    if config.startswith("ray-"):
        import ray

        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
        return RayEngine(workers=int(config.split("-")[1]), batch_size=batch_size)
    return LocalEngine(pipelined=config == "local-pipelined")


def run_one(job: str, config: str, folder: Path) -> dict[str, object]:
    """One configuration of one job, in this process."""
    from labeler.dataset import open_dataset
    from labeler.pipeline import run_autolabel, run_check
    from labeler.plugins import get_registry

    kind, name, options, _src = JOBS[job]
    # A check's batches are small so that 16 images spread over 2 workers.
    engine = _engine(config, 2 if kind == "checks" else None)
    plugin = get_registry().get(kind, name)(options)
    ds = open_dataset(folder)
    answered: list[float] = []
    start = time.perf_counter()
    cpu_start = time.process_time()

    def progress(done: int, total: int, msg: str) -> None:
        answered.append(time.perf_counter())

    if kind == "autolabelers":
        summary = run_autolabel(ds, plugin, engine=engine, progress=progress, timeout=None)
    else:
        summary, _ = run_check(ds, plugin, engine=engine, progress=progress, timeout=None)
    end = time.perf_counter()
    cpu = time.process_time() - cpu_start
    seconds = end - start
    ready = engine.ready_at or start
    steady = summary.processed / (end - ready) if end > ready else 0.0
    per_image = 1000 / max(1, summary.processed)
    model_cpu = getattr(engine, "model_cpu_s", None)  # the local engines' model thread
    return {
        "job": job, "config": config, "images": summary.total, "processed": summary.processed,
        "failed": len(summary.failed), "seconds": round(seconds, 2),
        "images_per_second": round(summary.processed / seconds, 3),
        "images_per_second_after_startup": round(steady, 3),
        "driver_peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "model_thread_cpu_ms_per_image": None if model_cpu is None else round(model_cpu * per_image, 1),
        "driver_cpu_ms_per_image": round(cpu * per_image, 1),
    }


class _Replay:
    """An engine that answers every job with predictions computed beforehand (no model)."""

    write_depth = 256

    def __init__(self, answers: dict[str, object]) -> None:
        self.answers = answers

    def autolabel(self, dataset, plugin, jobs: Iterable, timeout) -> Iterator:  # type: ignore[no-untyped-def]
        for job in jobs:
            yield job, self.answers[job.item.rel.rsplit("_", 1)[0]] if job.needs_work else None


def run_merge(folder: Path, copies: int) -> dict[str, object]:
    """The driver's merge-and-write rate: yolo_sam answers for 4 scenes, replayed ``copies``
    times each, merged and written as a run does (plan, merge, locked atomic write)."""
    from labeler.dataset import open_dataset
    from labeler.engines.local import LocalEngine
    from labeler.pipeline import run_autolabel
    from labeler.plugins import get_registry

    plugin = get_registry().get("autolabelers", "yolo_sam")(MODELS)
    names = ["scene_0001", "scene_0002", "scene_0017", "scene_0018"]  # two labeled, two not
    pristine = folder / "pristine"
    pristine.mkdir(parents=True)
    for n in names:
        for f in SAMPLE.glob(f"scenes/{n}.*"):
            shutil.copy(f, pristine / f.name)
    src = folder / "src"
    shutil.copytree(pristine, src)
    answers: dict[str, object] = {}

    class Capture(LocalEngine):
        def autolabel(self, *a, **k):  # type: ignore[no-untyped-def]
            for job, preds in super().autolabel(*a, **k):
                answers[Path(job.item.rel).stem] = preds
                yield job, preds

    run_autolabel(open_dataset(src), plugin, engine=Capture(), timeout=None)
    ds_dir = _images(pristine, folder / "many", copies)
    ds = open_dataset(ds_dir)
    start = time.perf_counter()
    summary = run_autolabel(ds, plugin, engine=_Replay(answers), timeout=None)
    seconds = time.perf_counter() - start
    return {
        "job": "merge-and-write", "config": "driver only", "images": summary.total,
        "processed": summary.processed, "failed": len(summary.failed),
        "seconds": round(seconds, 2), "images_per_second": round(summary.processed / seconds, 1),
        "images_per_second_after_startup": None,
        "driver_peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


class _Spin:
    """A task of pure CPU work (no I/O, no model): what share of a core each Ray worker gets."""

    def setup(self) -> None:
        """Nothing to load."""

    def __call__(self, batch: list[int]) -> list[tuple[int, float, float]]:
        cpu, wall = time.process_time(), time.perf_counter()
        total = 0
        for i in range(3_000_000):
            total += i
        return [(os.getpid(), time.process_time() - cpu, time.perf_counter() - wall)]

    def lost(self, batch: list[int], problem: str) -> list[str]:
        return [problem]


def run_cpu_share(repeat: int) -> list[dict[str, object]]:
    """Ray with 1 and 2 workers on the same pure-CPU batches: wall time of the batches (after
    start-up) and the share of a core each worker got (its CPU time over its wall time)."""
    import ray

    from labeler.engines.ray_engine import RayEngine

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    rows = []
    for n in range(repeat):
        for workers in (1, 2):
            engine = RayEngine(workers=workers)
            out = [a[0] for a in engine.map(_Spin(), [[i] for i in range(17)])][1:]  # first: warm
            cpu, wall = sum(o[1] for o in out), sum(o[2] for o in out)
            rows.append({"job": "cpu-share", "config": f"ray-{workers}", "round": n,
                         "batch_wall_s": round(wall / len(out), 3),
                         "share_of_a_core_per_worker": round(cpu / wall, 3),
                         "share_of_the_machine_used": round(workers * cpu / wall / 2, 3),
                         "load_1min": round(os.getloadavg()[0], 2)})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def _median(runs: list[dict[str, object]]) -> dict[str, object]:
    """The run whose images/s is the median (its other figures with it)."""
    ranked = sorted(runs, key=lambda r: float(r["images_per_second"]))  # type: ignore[arg-type]
    row = dict(ranked[len(ranked) // 2])
    row["runs"] = [r["images_per_second"] for r in runs]
    row["loads"] = [r.get("load_1min") for r in runs]
    return row


def _child(args: list[str], threads: int | None = None) -> dict[str, object]:
    env = dict(os.environ)
    if threads:  # every model in the run (Ray workers: 1 each, their CPU share, whatever this says)
        env["LABELER_THREADS"] = str(threads)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True,
                         env=env, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=[*JOBS, "merge"], help="One job only.")
    parser.add_argument("--copies", type=int, default=1,
                        help="Copies of each sample image (more images: startup counts less).")
    parser.add_argument("--merge-copies", type=int, default=100)
    parser.add_argument("--size", type=int, default=None,
                        help="Upscale each image to this long side (JPEG): decoding costs as on photos.")
    parser.add_argument("--threads", type=int, default=None,
                        help="Model threads of the local engines (LABELER_THREADS); Ray workers use 1 each.")
    parser.add_argument("--configs", default=",".join(CONFIGS),
                        help=f"Comma-separated subset of {', '.join(CONFIGS)}.")
    parser.add_argument("--repeat", type=int, default=1,
                        help="Run the configurations round-robin this many times; report medians.")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "scale.json")
    parser.add_argument("--cpu-share", action="store_true",
                        help="Only: what share of a core each of 1 and 2 Ray workers gets (pure CPU).")
    parser.add_argument("--one", nargs=3, metavar=("JOB", "CONFIG", "DIR"), help=argparse.SUPPRESS)
    parser.add_argument("--merge-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("YOLO_OFFLINE", "1")
    if args.one:
        print(json.dumps(run_one(args.one[0], args.one[1], Path(args.one[2]))))
        return
    if args.cpu_share:
        rows = run_cpu_share(args.repeat)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                                        "rows": rows}, indent=2) + "\n")
        return
    if args.merge_dir:
        print(json.dumps(run_merge(args.merge_dir, args.merge_copies)))
        return
    rows = []
    with tempfile.TemporaryDirectory(prefix="labeler-scale-") as tmp:
        for job in JOBS:
            if args.only and args.only != job:
                continue
            configs = [c for c in args.configs.split(",") if c in CONFIGS]
            runs: dict[str, list[dict[str, object]]] = {c: [] for c in configs}
            for n in range(args.repeat):
                for config in configs:
                    folder = _images(JOBS[job][3], Path(tmp) / f"{job}-{config}-{n}", args.copies,
                                     args.size)
                    runs[config].append(_child(["--one", job, config, str(folder)], args.threads))
                    runs[config][-1]["load_1min"] = round(os.getloadavg()[0], 2)
                    print(_line(runs[config][-1]), flush=True)
            rows.extend(_median(runs[c]) for c in configs)
        if not args.only or args.only == "merge":
            merges = []
            for n in range(args.repeat):
                (Path(tmp) / f"merge-{n}").mkdir()
                merges.append(_child(["--merge-dir", str(Path(tmp) / f"merge-{n}"),
                                      "--merge-copies", str(args.merge_copies)]))
                print(_line(merges[-1]), flush=True)
            rows.append(_median(merges))
    print()
    print(table(rows))
    load = os.getloadavg()
    report = {"when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpus": os.cpu_count(),
              "args": {k: v for k, v in vars(args).items() if k not in ("one", "merge_dir", "out")},
              "load_average_1_5_15": [round(x, 2) for x in load], "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nload average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}; written to {args.out}")


def _line(row: dict[str, object]) -> str:
    return (f"{row['job']:<16} {row['config']:<18} {row['processed']:>4}/{row['images']:<4} "
            f"{row['seconds']:>7} s  {row['images_per_second']:>7} images/s  "
            f"after start-up {row['images_per_second_after_startup']}  driver {row['driver_peak_mb']} MB"
            + (f"  model thread {row['model_thread_cpu_ms_per_image']} CPU ms/image"
               if row.get("model_thread_cpu_ms_per_image") is not None else ""))


def table(rows: list[dict[str, object]]) -> str:
    """A markdown table of the rows, with each job's speed-up over its first configuration."""
    lines = ["| job | engine | images | seconds | images/s | vs first | after start-up | vs first | driver peak "
             "| model thread CPU ms/image | driver CPU ms/image |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    first: dict[str, tuple[float, float]] = {}
    for r in rows:
        rate = float(r["images_per_second"])  # type: ignore[arg-type]
        warm = float(r["images_per_second_after_startup"] or 0.0)  # type: ignore[arg-type]
        base, base_warm = first.setdefault(str(r["job"]), (rate or 1.0, warm or 1.0))
        lines.append(f"| {r['job']} | {r['config']} | {r['processed']} | {r['seconds']} | {rate} | "
                     f"{rate / base:.2f}x | {warm or '-'} | "
                     f"{f'{warm / base_warm:.2f}x' if warm else '-'} | {r['driver_peak_mb']} MB | "
                     f"{r.get('model_thread_cpu_ms_per_image') or '-'} | {r.get('driver_cpu_ms_per_image') or '-'} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
