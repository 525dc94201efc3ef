"""The ``labeler`` command line. Thin: every command calls the core and the pipeline.

Heavy modules (plugins' models, Qt) are imported only by the commands that need them, so
``labeler --help`` stays fast.
"""

from __future__ import annotations

import json
import shlex
import sys
import typing
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from labeler import __version__
from labeler.errors import LabelerError, UsageError, near_name_hint

if TYPE_CHECKING:
    from pydantic import BaseModel
    from rich.console import Console

    from labeler.dataset import Dataset
    from labeler.pipeline import RunSummary
    from labeler.plugin_api import Plugin

EXIT_OK = 0
EXIT_PROBLEMS = 1  # the command ran, and found bad files or failed images
EXIT_USAGE = 2  # bad arguments, unknown plugin, missing dependency or weights


def _console(stderr: bool = False) -> Console:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def _esc(text: object) -> str:
    """User, file or plugin text made safe to print with rich markup (``[clip]`` stays)."""
    from rich.markup import escape

    return escape(str(text))


def fail(message: str, code: int = EXIT_USAGE) -> None:
    """Print ``Error: message`` to stderr and exit with ``code``."""
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


class LabelerGroup(click.Group):
    """A click group that turns expected errors into one clear line, not a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except LabelerError as err:
            fail(str(err))
        except KeyboardInterrupt:
            fail("interrupted", 130)
        except OSError as err:  # a file labeler had to write (or read) failed mid-run: name it
            where = f"{err.filename}: " if err.filename else ""
            fail(f"{where}{err.strerror or err}", EXIT_PROBLEMS)

    def list_commands(self, ctx: click.Context) -> list[str]:
        _load_plugin_commands(self)
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        cmd = super().get_command(ctx, cmd_name)
        if cmd is None:
            _load_plugin_commands(self)
            cmd = super().get_command(ctx, cmd_name)
        return cmd


_plugin_commands_loaded = False


def _load_plugin_commands(group: click.Group) -> None:
    global _plugin_commands_loaded
    if _plugin_commands_loaded:
        return
    _plugin_commands_loaded = True
    from labeler.plugins import add_plugin_commands

    add_plugin_commands(group, on_error=lambda msg: click.echo(f"Warning: {msg}", err=True))


@click.group(cls=LabelerGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="labeler")
def cli() -> None:
    """labeler: label images, auto-label them with models, check and fix the data, export it.

    A dataset is a folder of images with one labelme-compatible JSON file per image
    (``photo.jpg`` + ``photo.json``). labelme and X-AnyLabeling folders open as they are.

    \b
    Typical loop:
      labeler validate DIR                   check every file
      labeler autolabel DIR --plugin yolo    machine suggestions, kept for review
      labeler check DIR --plugin duplicates  flag data problems
      labeler gui DIR                        review and fix by hand
      labeler export DIR --to yolo --out OUT --split 0.8,0.2

    Run 'labeler COMMAND --help' for a command's options and examples.
    """
    from labeler.threads import sleep_when_idle

    sleep_when_idle()  # before any plugin loads torch (labeler.threads: a busy core costs less)


def _dataset_args(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.option(
        "--labels",
        "labels",
        type=click.Path(exists=True, file_okay=False, path_type=Path),
        default=None,
        help="Folder holding the JSON files, when they are not beside the images "
        "(must exist: mkdir it first to start an empty one).",
    )(func)
    func = click.argument(
        "directory", type=click.Path(exists=True, file_okay=False, path_type=Path)
    )(func)
    return func


def _plugin_options(help_text: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The repeatable ``-o KEY VALUE`` option every plugin-running command takes."""
    return click.option(
        "-o",
        "--option",
        "options",
        type=(str, str),
        multiple=True,
        metavar="KEY VALUE",
        help=help_text,
    )


def _open(directory: Path, labels: Path | None) -> Dataset:
    """Open the dataset and finish what an interrupted labeler process left half done."""
    from rich.markup import escape

    from labeler.dataset import open_dataset

    ds = open_dataset(directory, labels=labels)
    try:
        done = ds.recover()
    except (OSError, TimeoutError) as err:
        _console(stderr=True).print(f"[yellow]could not check for interrupted changes:[/] {escape(str(err))}")
        return ds
    con = _console(stderr=True)
    if done.rolled_forward:
        con.print(f"finished {len(done.rolled_forward)} change(s) an interrupted labeler process had committed")
    if done.rolled_back:
        con.print(f"undid {len(done.rolled_back)} half-made change(s) of an interrupted labeler process")
    if done.temp_removed:
        con.print(f"removed {len(done.temp_removed)} temp file(s) left by an interrupted writer")
    for problem in done.problems:
        con.print(f"[yellow]{escape(problem)}[/]")
    return ds


def _timeout_option(func: Callable[..., Any]) -> Callable[..., Any]:
    from labeler.timeouts import DEFAULT_TIMEOUT_S

    return click.option(
        "--timeout",
        default=DEFAULT_TIMEOUT_S,
        show_default=True,
        type=click.FloatRange(min=0),
        help="Seconds a plugin may take per image before that image fails (0: no limit; "
        "for each step of a plugin that splits its predict, see docs/scale.md).",
    )(func)


def _engine_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--engine`` and the Ray engine's options (autolabel and per-image checks)."""
    for decorator in reversed([
        click.option(
            "--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True,
            help="Where the plugin runs: this process, or a Ray cluster's workers "
            "(pip install 'labeler[ray]'; see docs/scale.md).",
        ),
        click.option(
            "--address", default=None, metavar="ADDR",
            help="Ray cluster to join (host:port of the head, or 'auto'); default: RAY_ADDRESS, "
            "else a local one for this run.",
        ),
        click.option(
            "--workers", type=click.IntRange(min=1), default=None,
            help="Ray workers (one model each); default: as many as the cluster's CPUs "
            "(or GPUs with --gpus-per-worker) allow.",
        ),
        click.option(
            "--gpus-per-worker", type=click.FloatRange(min=0), default=0.0, show_default=True,
            help="GPUs each Ray worker reserves (0.5: two workers share one GPU).",
        ),
        click.option(
            "--batch-size", type=click.IntRange(min=1), default=None,
            help="Images per batch (default: the plugin's); with Ray, per batch sent to a worker.",
        ),
    ]):
        func = decorator(func)
    return func


def _make_engine(engine: str, address: str | None, workers: int | None,
                 gpus_per_worker: float, batch_size: int | None) -> Any:
    from labeler.engines import make_engine

    if engine != "ray":
        for flag, value in (("--address", address), ("--workers", workers),
                            ("--gpus-per-worker", gpus_per_worker)):
            if value:
                raise UsageError(f"{flag} is an option of --engine ray")
    return make_engine(engine, address, workers, gpus_per_worker, batch_size)


@contextmanager
def _progress(
    description: str, total: int, enabled: bool = True
) -> Iterator[Callable[[int, int, str], None]]:
    """A rich progress bar on stderr; yields ``update(done, total, message)``."""
    if not enabled or total == 0:
        yield lambda d, t, m="": None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class Rate(ProgressColumn):
        """Images per second over the last seconds (rich's own speed estimate)."""

        def render(self, task: Any) -> Text:
            speed = task.finished_speed or task.speed
            return Text(f"{speed:.1f} images/s" if speed else "- images/s", style="cyan")

    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        Rate(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[msg]}", style="dim"),
        console=_console(stderr=True),
        transient=False,
    )
    task = bar.add_task(description, total=total, msg="")

    def update(done: int, tot: int, msg: str = "") -> None:
        if not bar.live.is_started:  # shown at the first step: a run refused before any work shows none
            bar.start()
        bar.update(task, completed=done, total=tot, msg=msg[-40:])

    try:
        yield update
    finally:
        if bar.live.is_started:
            bar.stop()


# -- plugin options ----------------------------------------------------------------------------
def describe_options(model: type[BaseModel], prefix: str = "") -> list[tuple[str, str, str, str]]:
    """(name, type, default, description) rows of a plugin's options model.

    A field holding options of its own (a chained plugin's stage, such as ``yolo_sam``'s
    ``yolo``) is listed as its options, named ``stage.key`` as ``-o`` takes them.
    """
    from pydantic import BaseModel

    rows = []
    for name, info in model.model_fields.items():
        ann = info.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            rows.extend(describe_options(ann, prefix=f"{prefix}{name}."))
            continue
        if typing.get_origin(ann) is typing.Literal:
            typ = "|".join(str(a) for a in typing.get_args(ann))
        else:
            typ = getattr(ann, "__name__", None) or str(ann).replace("typing.", "")
        default = "" if info.is_required() else repr(info.get_default(call_default_factory=True))
        rows.append((prefix + name, typ, default, info.description or ""))
    return rows


def _stage(field: Any) -> type[BaseModel] | None:
    """The options model of a chained plugin's stage (``-o sam.KEY``), or None for a plain option."""
    from pydantic import BaseModel

    ann = field.annotation
    return ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None


def _takes_any(model: type[BaseModel]) -> bool:
    """Whether ``model`` takes options it does not declare (the ensemble's ``-o MEMBER.KEY``)."""
    return model.model_config.get("extra") == "allow"


def parse_plugin_options(cls: type[Plugin], pairs: Sequence[tuple[str, str]]) -> BaseModel:
    """``-o KEY VALUE`` pairs -> the plugin's validated options (clear errors)."""
    from pydantic import ValidationError

    raw: dict[str, Any] = {}
    fields = cls.Options.model_fields
    who = cls.name or getattr(cls, "format", "") or cls.__name__  # exporters have a format only
    for key, value in pairs:
        key = key.replace("-", "_")
        if "." in key:  # chained plugins: -o sam.model_type vit_b
            head, rest = key.split(".", 1)
            if head in fields:  # a stage's own option names (a stage open to any: not checked)
                stage = _stage(fields[head])
                checked = stage is not None and not _takes_any(stage)
                names = known = [f"{head}.{n}" for n in stage.model_fields] if checked else []  # type: ignore[union-attr]
            else:  # the ensemble's members are open-ended options of the plugin itself
                checked = not _takes_any(cls.Options)
                names, known = [f"{n}.{rest}" for n in fields], list(fields)
            if checked and key not in names:
                hint = near_name_hint(key, names)
                raise UsageError(f"plugin {who!r} has no option {key!r} (options: {', '.join(known) or 'none'})"
                                 + (f"; {hint}" if hint else ""))
            raw.setdefault(head, {})[rest] = _coerce(value)
            continue
        if key not in fields:
            known = ", ".join(fields) or "none"
            # A chained plugin's stages are options holding options: say which stage has it.
            stages = [f"{name}.{key}" for name, f in fields.items()
                      if (st := _stage(f)) is not None and key in st.model_fields]
            near = near_name_hint(key, fields)
            hint = (f"; did you mean {' or '.join(f'-o {s}' for s in stages)}?" if stages
                    else f"; {near}" if near else "")
            raise UsageError(f"plugin {who!r} has no option {key!r} (options: {known}){hint}")
        raw[key] = _coerce(value)
    try:
        return cls.Options.model_validate(raw)
    except ValidationError as err:
        msgs = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors())
        raise UsageError(f"plugin {who!r} options: {msgs}") from None


def _coerce(value: str) -> Any:
    """Option values: JSON when it parses (numbers, lists, true/false), else the string."""
    try:
        return json.loads(value)
    except ValueError:
        if "," in value and not value.startswith(("{", "[")):
            return [v.strip() for v in value.split(",")]
        return value


def _options_epilog(kind: str) -> str:
    from labeler.plugins import get_registry

    reg = get_registry()
    training = kind == "train"
    table: dict[str, type[Plugin]] = getattr(reg, "autolabelers" if training else kind)
    if training:  # trainable autolabelers, with their training options
        table = {n: c for n, c in table.items() if getattr(c, "TrainOptions", None) is not None}
    if not table:
        return ""
    what = "Trainable plugins and their training options" if training else "Installed plugins and their options"
    lines = ["\b", f"{what} (-o NAME VALUE):"]
    for name, cls in sorted(table.items()):
        missing = cls.missing_requirements()
        note = f"  [needs: {cls.install_command()}]" if missing else ""
        lines.append(f"  {name}: {cls.description}{note}")
        options_model = cls.TrainOptions if training else cls.Options  # type: ignore[attr-defined]
        for opt, typ, default, desc in describe_options(options_model):
            d = f" (default {default})" if default else ""
            lines.append(f"      {opt} [{typ}]{d} {desc}".rstrip())
    return "\n".join(lines)


class PluginHelpCommand(click.Command):
    """A command whose --help ends with the installed plugins of one kind and their options."""

    def __init__(self, *args: Any, plugin_kind: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.plugin_kind = plugin_kind

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_epilog(ctx, formatter)
        try:
            text = _options_epilog(self.plugin_kind)
        except Exception as err:  # noqa: BLE001 - help must always print
            text = f"(could not list plugins: {err})"
        if text:
            formatter.write_paragraph()
            for line in text.splitlines():
                formatter.write_text(line) if line != "\b" else None


def _make_plugin(kind: str, name: str, options: Sequence[tuple[str, str]]) -> Plugin:
    from labeler.plugins import get_registry

    cls = get_registry().get(kind, name)
    cls.ensure_requirements()
    return cls(parse_plugin_options(cls, options))


def _print_summary(
    summary: RunSummary, as_json: bool, verb: str, unit: str = "suggestions"
) -> None:
    if as_json:
        click.echo(json.dumps(summary.to_dict(), indent=2))
        return
    from rich.table import Table

    con = _console()
    if summary.dry_run:
        for line in summary.changes:
            con.print(f"  would change {_esc(line)}")
    head = (
        f"[bold]{_esc(summary.plugin)}[/]: {summary.total} image(s), {summary.processed} {verb}, "
        f"{summary.skipped_done} already done, {summary.changed} file(s) "
        f"{'would change' if summary.dry_run else 'written'}, {len(summary.failed)} failed, "
        f"{summary.seconds:.1f} s ({summary.images_per_second:.2f} images/s)"
    )
    con.print(head)
    if summary.per_class:
        table = Table(title=unit.capitalize(), show_edge=False)
        table.add_column("name")
        table.add_column("count", justify="right")
        for name, n in summary.per_class.most_common():
            table.add_row(_esc(name), str(n))
        con.print(table)
    for f in summary.failed:
        con.print(f"[red]failed[/] {_esc(f)}", markup=True)
    if summary.interrupted:
        con.print("[yellow]Interrupted.[/] Files written so far are complete; run again to resume.")


# -- commands -----------------------------------------------------------------------------------
@cli.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def plugins_cmd(as_json: bool) -> None:
    """List installed plugins: what each provides and whether its dependencies are installed.

    \b
    Examples:
      labeler plugins
      LABELER_PLUGINS=formats labeler plugins     # load only some plugins
    """
    from labeler.plugins import get_registry

    reg = get_registry()
    rows = []
    for rec in sorted(reg.plugins.values(), key=lambda r: r.name):
        provides = {k: sorted(v) for k, v in rec.provides.items()}
        if rec.commands:
            provides["commands"] = ["(CLI subcommands)"]
        if rec.gui_extensions:
            provides["gui"] = ["(docks or menu actions)"]
        rows.append(
            {
                "name": rec.name,
                "distribution": rec.distribution,
                "version": rec.version,
                "provides": provides,
                "missing": rec.missing,
                "install": rec.install,
                "error": rec.error,
            }
        )
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    from rich.table import Table

    table = Table(show_lines=False)
    for col in ("plugin", "version", "provides", "dependencies"):
        table.add_column(col)
    for row in rows:
        provides = "\n".join(f"{k}: {', '.join(v)}" for k, v in row["provides"].items()) or "-"
        if row["error"]:
            deps = "[red]error (below)[/]"
        elif row["missing"]:
            deps = f"[yellow]missing {_esc(', '.join(row['missing']))}[/]\n" + _esc("\n".join(row["install"]))
        else:
            deps = "[green]ok[/]"
        table.add_row(_esc(row["name"]), _esc(row["version"] or "-"), _esc(provides), deps)
    con = _console()
    con.print(table)
    for row in rows:  # in full, not cut to the table's width
        if row["error"]:
            con.print(f"[red]error:[/] plugin {_esc(repr(row['name']))}: {_esc(row['error'])}", markup=True, highlight=False)
    for w in reg.warnings:
        con.print(f"[yellow]warning:[/] {_esc(w)}")


@cli.command("validate")
@_dataset_args
@click.option("--fast", is_flag=True, help="Read image headers only (do not decode every image).")
@click.option("--strict", is_flag=True, help="Exit non-zero on warnings too.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def validate_cmd(
    directory: Path, labels: Path | None, fast: bool, strict: bool, as_json: bool, no_progress: bool
) -> None:
    """Check every image and label file; print a summary; exit 1 when a file is bad.

    Reports corrupt or truncated JSON, hostile imagePath values, sizes that disagree with the
    image, truncated or non-image files, decompression bombs, and questionable shapes. Never
    modifies anything.

    \b
    Examples:
      labeler validate sample_data/scenes
      labeler validate photos --labels annotations --json > report.json
    """
    from labeler.validate import validate_dataset

    ds = _open(directory, labels)
    with _progress("validate", len(ds), enabled=not (no_progress or as_json)) as update:
        result = validate_dataset(ds, decode=not fast, progress=update)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        con = _console()
        for p in result.errors:
            con.print(f"[red]error[/]   {_esc(p)}", markup=True)
        for p in result.warnings:
            con.print(f"[yellow]warning[/] {_esc(p)}", markup=True)
        con.print(
            f"{result.images} image(s), {result.label_files} label file(s): "
            f"{len(result.errors)} error(s), {len(result.warnings)} warning(s)"
        )
    if result.errors or (strict and result.warnings):
        sys.exit(EXIT_PROBLEMS)


@cli.command("stats")
@_dataset_args
@click.option(
    "--images", is_flag=True,
    help="Also decode every image (reduced): per-channel mean/std for normalisation, sizes, "
    "aspect ratios, share of grayscale images.",
)
@click.option(
    "--html", "html_path", type=click.Path(dir_okay=False, path_type=Path),
    help="Write the figures as a self-contained HTML page with plots.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def stats_cmd(
    directory: Path, labels: Path | None, images: bool, html_path: Path | None, as_json: bool,
    no_progress: bool,
) -> None:
    """Class counts (shapes and image labels), shapes per image, unlabeled images, review
    states, raised issues and the class imbalance ratio; with --images, the normalisation
    mean and std per channel (and the one-channel figure for grayscale sets), the size and
    aspect-ratio distributions and the share of grayscale images.

    \b
    Examples:
      labeler stats sample_data/sketches
      labeler stats sample_data/sketches --images --html stats.html
      labeler stats sample_data/scenes --json | jq .classes
      labeler stats sample_data/scenes --images --json | jq .image_statistics.normalize
    """
    from labeler.stats import compute_stats, render_stats

    if html_path is not None:
        from labeler.io.atomic import check_writable_folder

        check_writable_folder(html_path.absolute().parent, "--html", target=html_path)
    ds = _open(directory, labels)
    with _progress("stats --images", len(ds), enabled=images and not (no_progress or as_json)) as update:
        stats = compute_stats(ds, images=images, progress=update if images else None)
    if html_path is not None:
        from labeler.report import write_html_report

        write_html_report(ds, [], html_path, image_stats=stats.get("image_statistics"))
    if as_json:
        click.echo(json.dumps(stats, indent=2))
    else:
        render_stats(stats, _console())
    if stats["unreadable"]:
        sys.exit(EXIT_PROBLEMS)


def _format_names(kind: str) -> list[str]:
    try:
        from labeler.plugins import get_registry

        return sorted(getattr(get_registry(), kind))
    except Exception:  # noqa: BLE001
        return []


@cli.command("import", cls=PluginHelpCommand, plugin_kind="importers")
@click.argument("src", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--from", "fmt", required=True,
    help="Source format: yolo, coco, imagefolder, csv, labelme, icdar2015, ufo, paddleocr "
    "(and any a plugin adds; see 'labeler plugins').",
)
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="New dataset folder.",
)
@_plugin_options("Format option.")
@click.option("--overwrite", is_flag=True, help="Replace label files that already exist in OUT.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable summary.")
def import_cmd(
    src: Path,
    fmt: str,
    out: Path,
    options: Sequence[tuple[str, str]],
    overwrite: bool,
    as_json: bool,
) -> None:
    """Convert a dataset in another format into a labeler dataset (images + JSON files).

    The source is only read. Images are copied into OUT beside their new JSON files.

    \b
    Examples:
      labeler import coco_ds/annotations/instances_train.json --from coco --out ds
      labeler import yolo_ds --from yolo --out ds
      labeler import pets --from imagefolder --out ds
    """
    from labeler.exporting import run_import

    importer = _make_plugin("importers", fmt, options)
    report = run_import(importer, src, out, overwrite=overwrite)  # type: ignore[arg-type]
    _print_report(report, as_json, f"imported into {out}")


@cli.command("export", cls=PluginHelpCommand, plugin_kind="exporters")
@_dataset_args
@click.option(
    "--to",
    "fmt",
    required=True,
    help="Target format: yolo, yolo-seg, coco, imagefolder, csv, labelme, icdar2015, ufo, "
    "paddleocr (and any a plugin adds).",
)
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder.",
)
@click.option(
    "--split",
    default=None,
    help="Fractions for train,val[,test], e.g. 0.8,0.1,0.1 (stratified by class).",
)
@click.option("--seed", default=0, show_default=True, help="Random seed of the split.")
@click.option(
    "--only-reviewed",
    is_flag=True,
    help="Only human or accepted labels; skip images with unreviewed suggestions.",
)
@click.option(
    "--min-score", "min_score", type=click.FloatRange(0, 1), default=None, metavar="SCORE",
    help="Leave out unreviewed suggestions scoring less than SCORE (or with no score); "
    "counted in the summary. Default: every unreviewed suggestion is exported.",
)
@click.option(
    "--exclude",
    "exclude",
    multiple=True,
    metavar="KIND",
    help="Skip images with an open issue of this kind ('any' for every kind). Repeatable. "
    "A kind no image has and no fixer handles is refused (a typo would exclude nothing).",
)
@click.option(
    "--include-excluded", is_flag=True, help="Also export images marked excluded (e.g. duplicates)."
)
@click.option(
    "--classes",
    default=None,
    help="Class order: a,b,c or a file (one per line, YAML/JSON list, data.yaml). Other classes are dropped and reported.",
)
@click.option(
    "--map",
    "mapping",
    default=None,
    help="Rename classes: old=new,old2=new2 (old= drops) or a YAML/JSON file.",
)
@_plugin_options("Format option.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable summary.")
@click.option(
    "--class-weights",
    is_flag=True,
    help="Also write OUT/class_weights.json (inverse frequency, effective number; train split).",
)
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def export_cmd(
    directory: Path,
    labels: Path | None,
    fmt: str,
    out: Path,
    split: str | None,
    seed: int,
    only_reviewed: bool,
    exclude: Sequence[str],
    include_excluded: bool,
    classes: str | None,
    mapping: str | None,
    options: Sequence[tuple[str, str]],
    as_json: bool,
    class_weights: bool = False,
    min_score: float | None = None,
    no_progress: bool = False,
) -> None:
    """Write the dataset in a training format that training scripts read directly.

    Human and accepted labels are exported, and by default unreviewed suggestions too
    (rejected ones never): the summary says how many unreviewed suggestions were written,
    per plugin. --min-score leaves out the low-scoring ones; --only-reviewed leaves out every
    unreviewed one (and the images that still have some, unless marked reviewed).

    \b
    Examples:
      labeler export sample_data/scenes --to yolo --out out/yolo --split 0.8,0.2
      labeler export sample_data/scenes --to coco --out out/coco --only-reviewed
      labeler export sample_data/sketches --to imagefolder --out out/if --split 0.8,0.1,0.1
      labeler export ds --to csv --out out/csv --exclude any --map kitty=cat
      labeler export ds --to yolo --out out/yolo --min-score 0.5
    """
    from labeler.exporting import (
        ExportOptions,
        exported_parts,
        parse_split,
        read_class_list,
        read_mapping,
        run_export,
    )

    exporter = _make_plugin("exporters", fmt, options)
    opts = ExportOptions(
        only_reviewed=only_reviewed,
        include_excluded=include_excluded,
        exclude_flagged=tuple(exclude),
        classes=read_class_list(classes),
        mapping=read_mapping(mapping),
        split=parse_split(split),
        seed=seed,
        min_score=min_score,
    )
    ds = _open(directory, labels)
    n = len(ds)
    with _progress("export", n, enabled=not (no_progress or as_json)) as update:
        report = run_export(  # one bar: reading every file, then writing what is exported
            ds, exporter, out, opts,  # type: ignore[arg-type]
            reading=lambda done, total, name: update(done, 2 * total, name),
            writing=lambda done, total, name: update(n + done, n + total, name),
        )
    if class_weights:
        from labeler.balance import write_class_weights

        what = exported_parts(exporter)
        written = write_class_weights(ds, opts, out, what=what)
        report.notes.append(
            f"class weights: {written}" if written is not None
            else f"class weights not written: no {what.replace('_', ' ')} exported to count"
        )
    _print_report(report, as_json, f"exported to {out}")


def _print_report(report: Any, as_json: bool, what: str) -> None:
    if as_json:
        click.echo(
            json.dumps(
                {"counts": report.counts, "problems": report.problems, "notes": report.notes},
                indent=2,
            )
        )
    else:
        con = _console()
        counts = ", ".join(f"{v} {k}" for k, v in report.counts.items())
        con.print(_esc(f"{what}: {counts or 'nothing'}"))
        for note in report.notes:
            con.print(f"[cyan]note[/]    {_esc(note)}")
        for p in report.problems:
            con.print(f"[red]problem[/] {_esc(p)}")
    if report.problems:
        sys.exit(EXIT_PROBLEMS)


@cli.command("autolabel", cls=PluginHelpCommand, plugin_kind="autolabelers")
@_dataset_args
@click.option(
    "--plugin", "plugin_name", required=True, help="Autolabeler to run (see 'labeler plugins')."
)
@_plugin_options("Plugin option, e.g. -o conf 0.4 (repeatable).")
@click.option(
    "--redo",
    is_flag=True,
    help="Process images again even when already done with the same settings.",
)
@click.option("--dry-run", is_flag=True, help="Show what would change; write nothing.")
@click.option(
    "--match-iou",
    default=0.5,
    show_default=True,
    help="IoU above which a suggestion matches a human or rejected shape.",
)
@_timeout_option
@_engine_options
@click.option("--json", "as_json", is_flag=True, help="Machine-readable summary.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def autolabel_cmd(
    directory: Path,
    labels: Path | None,
    plugin_name: str,
    options: Sequence[tuple[str, str]],
    redo: bool,
    dry_run: bool,
    match_iou: float,
    timeout: float,
    engine: str,
    address: str | None,
    workers: int | None,
    gpus_per_worker: float,
    batch_size: int | None,
    as_json: bool,
    no_progress: bool,
) -> None:
    """Run a model over the dataset and write its output as suggestions to review.

    Suggestions carry the plugin, model, version and score. Shapes a person drew or accepted
    are never changed; a rerun replaces the plugin's own unreviewed suggestions; rejected ones
    do not come back. Interrupted runs resume: images already done are skipped.

    \b
    Examples:
      labeler autolabel photos --plugin yolo_sam                 # yolov8n + SAM vit_b, downloaded once
      labeler autolabel photos --plugin yolo -o model best.pt -o conf 0.4
      labeler autolabel photos --plugin yolo --dry-run
      labeler autolabel photos --plugin yolo_sam -o sam.model_type sam2.1_t   # a lighter SAM
      labeler autolabel photos --plugin text_boxes -o classes "pill,blister pack"  # no detector yet
      labeler autolabel /shared/imagenet --plugin yolo_sam --engine ray --address auto --gpus-per-worker 1
    """
    from labeler.pipeline import run_autolabel

    plugin = _make_plugin("autolabelers", plugin_name, options)
    runner = _make_engine(engine, address, workers, gpus_per_worker, batch_size)
    ds = _open(directory, labels)
    plugin.source()  # finds the model files now: a missing one is reported before any progress
    with _progress(
        f"autolabel {plugin_name}", len(ds), enabled=not (no_progress or as_json)
    ) as update:
        summary = run_autolabel(
            ds, plugin, redo=redo, dry_run=dry_run, match_iou=match_iou, progress=update,
            timeout=timeout or None, engine=runner,
        )  # type: ignore[arg-type]
    _print_summary(summary, as_json, "processed", unit="suggestions per class")
    if summary.failed:
        sys.exit(EXIT_PROBLEMS)
    if summary.interrupted:
        sys.exit(130)


@cli.command("check", cls=PluginHelpCommand, plugin_kind="checks")
@_dataset_args
@click.option("--plugin", "plugin_names", required=True, help="Check(s) to run, comma-separated.")
@_plugin_options("Check option (name.key for one of several checks).")
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the findings as JSON.",
)
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a self-contained HTML report with thumbnails.",
)
@click.option("--dry-run", is_flag=True, help="Show findings; write nothing into the label files.")
@_timeout_option
@_engine_options
@click.option("--json", "as_json", is_flag=True, help="Machine-readable summary.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def check_cmd(
    directory: Path,
    labels: Path | None,
    plugin_names: str,
    options: Sequence[tuple[str, str]],
    report_path: Path | None,
    html_path: Path | None,
    dry_run: bool,
    timeout: float,
    engine: str,
    address: str | None,
    workers: int | None,
    gpus_per_worker: float,
    batch_size: int | None,
    as_json: bool,
    no_progress: bool,
) -> None:
    """Run data checks; write each finding into the image's JSON as an issue to review.

    A rerun replaces the check's own earlier findings (dismissed ones stay dismissed).

    \b
    Examples:
      labeler check sample_data/sketches --plugin duplicates
      labeler check ds --plugin clip_outliers,duplicates --report findings.json --html report.html
      labeler check /shared/scans --plugin orientation --engine ray --address auto --workers 16

    With --engine ray, per-image checks run on the Ray workers; dataset-wide checks
    (duplicates, clip_outliers) compute each image's hashes or embedding there and
    compare them in this process.
    """
    from labeler.io.atomic import check_writable_folder
    from labeler.pipeline import run_check
    from labeler.report import findings_to_json, write_html_report

    for option, path in (("--report", report_path), ("--html", html_path)):
        if path is not None:  # fail now, not after the checks have run
            check_writable_folder(path.absolute().parent, option, target=path)
    names = [n.strip() for n in plugin_names.split(",") if n.strip()]
    if len(names) > 1:  # every option must say which check it is for
        for key, _value in options:
            if key.split(".", 1)[0] not in names:
                raise UsageError(
                    f"-o {key}: with several checks, give each option as CHECK.KEY "
                    f"(checks: {', '.join(names)})"
                )
    runner = _make_engine(engine, address, workers, gpus_per_worker, batch_size)
    ds = _open(directory, labels)
    all_findings = []
    image_stats: dict[str, Any] | None = None
    summaries: list[dict[str, Any]] = []
    settled = 0
    failed = False
    for name in names:
        own = [
            (k.split(".", 1)[1], v) if k.startswith(name + ".") else (k, v)
            for k, v in options
            if len(names) == 1 or k.startswith(name + ".")
        ]
        plugin = _make_plugin("checks", name, own)
        with _progress(f"check {name}", len(ds), enabled=not (no_progress or as_json)) as update:
            summary, findings = run_check(
                ds, plugin, dry_run=dry_run, progress=update, timeout=timeout or None,  # type: ignore[arg-type]
                engine=runner,
            )
        if as_json:
            summaries.append(summary.to_dict())
        else:
            _print_summary(summary, as_json, "checked", unit="open issues by kind")
        all_findings.extend(f for f in findings if f.issue.state == "open")
        image_stats = getattr(plugin, "image_statistics", None) or image_stats  # image_quality measures them
        settled += sum(f.issue.state != "open" for f in findings)
        failed = failed or bool(summary.failed)
    if as_json:  # one document: the summary, or {"checks": [...]} for several
        click.echo(json.dumps(summaries[0] if len(summaries) == 1 else {"checks": summaries}, indent=2))
    if not as_json and settled:
        _console().print(f"{settled} finding(s) already fixed or dismissed (not listed)")
    if not as_json and all_findings:
        con = _console()
        ranked = sorted(all_findings, key=lambda f: -(f.issue.score or 0.0))
        con.print("[bold]Top findings[/]")
        for f in ranked[:15]:
            score = f"{f.issue.score:.2f}" if f.issue.score is not None else "  - "
            con.print(f"  {score}  {_esc(f'{f.issue.kind:<14} {f.rel}  {f.issue.detail}')}")
    if report_path is not None:
        from labeler.io.atomic import atomic_write_text

        atomic_write_text(
            report_path,
            json.dumps(findings_to_json(all_findings), indent=2, ensure_ascii=False) + "\n",
        )
        if not as_json:
            _console().print(f"report: {_esc(report_path)}")
    if html_path is not None:
        write_html_report(ds, all_findings, html_path, image_stats=image_stats)
        if not as_json:
            _console().print(f"html report: {_esc(html_path)}")
    if failed:
        sys.exit(EXIT_PROBLEMS)


@cli.command("fix", cls=PluginHelpCommand, plugin_kind="fixers")
@_dataset_args
@click.option(
    "--plugin", "plugin_name", required=True, help="Fixer to apply (see 'labeler plugins')."
)
@_plugin_options("Fixer option.")
@click.option("--kind", "kinds", multiple=True, help="Only issues of this kind (repeatable).")
@click.option(
    "--min-score", default=0.0, show_default=True, help="Only issues scored at least this."
)
@click.option("--undo", is_flag=True, help="Revert this fixer's fixes.")
@click.option("--dry-run", is_flag=True, help="Show what would change; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable summary.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def fix_cmd(
    directory: Path,
    labels: Path | None,
    plugin_name: str,
    options: Sequence[tuple[str, str]],
    kinds: Sequence[str],
    min_score: float,
    undo: bool,
    dry_run: bool,
    as_json: bool,
    no_progress: bool,
) -> None:
    """Apply the proposed fixes of open issues, reversibly.

    Fixers edit the label files only, except those that must change pixels (orientation),
    which first move the original image aside so that --undo can put it back. Each image's
    change is one transaction: killed or out of disk at any point, the next labeler command
    finishes it or undoes it. --dry-run lists every change as old -> new.

    \b
    Examples:
      labeler fix sample_data/sketches --plugin duplicates
      labeler fix sample_data/sketches --plugin duplicates --undo
      labeler fix DIR --plugin relabel --kind mislabel --dry-run
    """
    from labeler.pipeline import run_fix

    plugin = _make_plugin("fixers", plugin_name, options)
    handled = tuple(getattr(plugin, "kinds", ()))
    unknown = [k for k in kinds if handled and k not in handled]
    if unknown:
        raise UsageError(
            f"fixer {plugin_name!r} does not handle issue kind {unknown[0]!r} "
            f"(it handles: {', '.join(handled)})"
        )
    ds = _open(directory, labels)
    with _progress(f"fix {plugin_name}", len(ds), enabled=not (no_progress or as_json)) as update:
        summary = run_fix(
            ds, plugin, undo=undo, kinds=kinds or None, min_score=min_score, dry_run=dry_run,
            progress=update,
        )  # type: ignore[arg-type]
    _print_summary(summary, as_json, "changed", unit="issues")
    if not summary.matched_issues and not summary.failed and not as_json:
        from labeler.plugins import get_registry

        if undo:
            note = f"nothing to undo: no issue here was fixed by {plugin_name}"
        else:
            what = ", ".join(kinds or handled) or "any kind"
            above = f" scoring at least {min_score:g}" if min_score else ""
            how = (f"labeler check {directory} --plugin {plugin_name}" if plugin_name in get_registry().checks
                   else f"labeler check {directory} --plugin NAME (labeler plugins lists the checks)")
            note = f"no open issue here that {plugin_name} fixes ({what}){above}: find them first with {how}"
        _console().print(f"[yellow]note[/] {_esc(note)}")
    if summary.failed:
        sys.exit(EXIT_PROBLEMS)


@cli.command("review")
@_dataset_args
@click.option(
    "--accept-above", type=click.FloatRange(0, 1), default=None, metavar="SCORE",
    help="Accept the suggestions scoring at least SCORE.",
)
@click.option(
    "--reject-below", type=click.FloatRange(0, 1), default=None, metavar="SCORE",
    help="Reject the suggestions scoring less than SCORE (they do not come back on a rerun).",
)
@click.option(
    "--plugin", "plugins", multiple=True, metavar="NAME",
    help="Only suggestions of this plugin (repeatable or comma-separated).",
)
@click.option(
    "--label", "labels_", multiple=True, metavar="NAME",
    help="Only suggestions of this class (repeatable or comma-separated).",
)
@click.option(
    "--shape-type", "shape_types", multiple=True, metavar="TYPE",
    help="Only shapes of this type, e.g. rectangle, polygon (image-level labels are left out).",
)
@click.option(
    "--mark-reviewed", is_flag=True,
    help="Mark every labeled image with no suggestion left pending as reviewed.",
)
@click.option("--undo", is_flag=True, help="Revert the last review run.")
@click.option("--dry-run", is_flag=True, help="Print every change; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def review_cmd(
    directory: Path,
    labels: Path | None,
    accept_above: float | None,
    reject_below: float | None,
    plugins: Sequence[str],
    labels_: Sequence[str],
    shape_types: Sequence[str],
    mark_reviewed: bool,
    undo: bool,
    dry_run: bool,
    as_json: bool,
    no_progress: bool,
) -> None:
    """Review machine suggestions without the GUI: list, accept, reject, mark reviewed, undo.

    With no action, lists what is pending: counts per plugin and class, a score histogram
    and the images with suggestions to review. --accept-above and --reject-below (both may be
    given) settle suggestions by score; a suggestion without a score is never settled by
    them. --plugin, --label and --shape-type narrow every action and the listing. Each run
    records what it changed under DIR/.labeler/review/; --undo reverts the last run (shapes
    changed since are left alone and listed). Files that cannot be read are reported and
    skipped (exit code 1).

    \b
    Examples:
      labeler review photos                                   # what is pending
      labeler review photos --accept-above 0.8 --reject-below 0.3 --dry-run
      labeler review photos --accept-above 0.9 --plugin yolo --label cat,dog
      labeler review photos --reject-below 0.5 --plugin sam --mark-reviewed
      labeler review photos --undo
    """
    from labeler.review import Selection, pending_summary, review_dataset, undo_review

    acting = accept_above is not None or reject_below is not None or mark_reviewed
    if undo and acting:
        raise UsageError("--undo reverts the last run: give it without other actions")
    if accept_above is not None and reject_below is not None and reject_below > accept_above:
        raise UsageError(
            f"--reject-below {reject_below:g} is above --accept-above {accept_above:g}: "
            "a suggestion would be both accepted and rejected"
        )
    ds = _open(directory, labels)
    if (acting or undo) and not dry_run:
        ds.recover()  # finish or roll back an interrupted multi-file write before writing
    narrow = {"plugins": plugins or None, "labels": labels_ or None,
              "shape_types": shape_types or None}
    bar = not (no_progress or as_json)
    if not undo:  # a mistyped name would select nothing: refused before anything is written
        from labeler.plugins import get_registry
        from labeler.review import check_names

        reg = get_registry()
        installed = [*reg.autolabelers, *reg.checks, *reg.fixers]
        with _progress("names", len(ds), enabled=bar and any(narrow.values())) as update:
            names = check_names(ds, Selection.of(**narrow), installed, progress=update)
        if names.refused:
            raise UsageError("\n".join(names.refused))
        for line in names.absent if not as_json else ():
            _console().print(f"[yellow]note[/] {_esc(line)}")
    if undo:
        with _progress("undo review", len(ds), enabled=bar) as update:
            summary = undo_review(ds, dry_run=dry_run, progress=update)
        if summary is None:
            if as_json:
                click.echo(json.dumps({"undone": None}))
            else:
                _console().print(f"No review run to undo in {directory}.")
            return
        _print_review(summary, as_json, "undo", directory)
    elif not acting:
        failed: list[str] = []
        with _progress("review", len(ds), enabled=bar) as update:
            pending = pending_summary(ds, Selection.of(**narrow), failed, progress=update)
        if as_json:
            click.echo(json.dumps({**pending.to_dict(), "failed": failed}, indent=2))
        else:
            _print_pending(pending, failed)
        if failed:
            sys.exit(EXIT_PROBLEMS)
        return
    else:
        accept = Selection.of(**narrow, at_least=accept_above) if accept_above is not None else None
        reject = Selection.of(**narrow, below=reject_below) if reject_below is not None else None
        command = {"accept_above": accept_above, "reject_below": reject_below,
                   "plugins": list(plugins), "labels": list(labels_),
                   "shape_types": list(shape_types), "mark_reviewed": mark_reviewed}
        with _progress("review", len(ds), enabled=bar) as update:
            summary = review_dataset(ds, accept, reject, reviewed=mark_reviewed, dry_run=dry_run,
                                     progress=update, command=command)
        _print_review(summary, as_json, "review", directory)
    if summary.failed:
        sys.exit(EXIT_PROBLEMS)


def _print_pending(pending: Any, failed: Sequence[str]) -> None:
    from rich.table import Table

    con = _console()
    con.print(
        f"[bold]{pending.suggestions}[/] suggestion(s) pending in {len(pending.per_image)} "
        f"image(s) ({pending.image_labels} image-level)"
    )
    if pending.suggestions:
        for title, counter in (("plugin", pending.per_plugin), ("class", pending.per_label)):
            table = Table(show_edge=False)
            table.add_column(title)
            table.add_column("pending", justify="right")
            for name, n in counter.most_common():
                table.add_row(name, str(n))
            con.print(table)
        table = Table(show_edge=False)
        table.add_column("score")
        table.add_column("pending", justify="right")
        for bucket, n in pending.to_dict()["score_histogram"].items():
            table.add_row(bucket, str(n))
        con.print(table)
        con.print("[bold]Images to review[/]")
        for rel, n in pending.per_image.items():
            con.print(f"  {rel}: {n}")
    for f in failed:
        con.print(f"[red]failed[/] {f}", markup=True)


def _print_review(summary: Any, as_json: bool, what: str, directory: Path | None = None) -> None:
    if as_json:
        click.echo(json.dumps(summary.to_dict(), indent=2))
        return
    con = _console()
    for line in summary.changes if summary.dry_run or what == "undo" else ():
        con.print(f"  {'would change ' if summary.dry_run else ''}{line}", markup=False)
    counts = ", ".join(f"{n} {k}" for k, n in sorted(summary.counts.items())) or "nothing"
    verb = "would change" if summary.dry_run else "written"
    con.print(
        f"[bold]{what}[/]: {counts}; {summary.files_changed} file(s) {verb}, "
        f"{len(summary.failed)} failed, {summary.seconds:.1f} s"
    )
    if what == "review":
        p = summary.pending
        con.print(f"still pending: {p.suggestions} suggestion(s) in {len(p.per_image)} image(s)")
    for line in summary.left_alone:
        con.print(f"[yellow]left alone[/] {line}", markup=True)
    for f in summary.failed:
        con.print(f"[red]failed[/] {f}", markup=True)
    if summary.record is not None and not summary.dry_run:
        where = shlex.quote(str(directory)) if directory is not None else "DIR"
        note = f"undo with: labeler review {where} --undo" if what == "review" else "updated"
        con.print(f"record: {summary.record} ({note})", markup=False)


@cli.command("train", cls=PluginHelpCommand, plugin_kind="train")
@_dataset_args
@click.option("--plugin", "plugin_name", required=True, help="Trainable autolabeler (e.g. yolo).")
@_plugin_options("Training option, e.g. -o epochs 50 (see below).")
@click.option(
    "--folds", type=click.IntRange(min=0), default=0,
    help="Train K models on K-1 folds each; each predicts its held-out fold. The out-of-fold "
    "predictions go to DIR/.labeler/oof/<config hash>/predictions.json for the "
    "detection_errors check.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result.")
def train_cmd(
    directory: Path,
    labels: Path | None,
    plugin_name: str,
    options: Sequence[tuple[str, str]],
    folds: int,
    as_json: bool,
) -> None:
    """Train a model on the dataset's reviewed labels, for the next autolabel round.

    The loop: label some images, train, autolabel the rest, review, repeat.

    \b
    Examples:
      labeler train sample_data/scenes --plugin yolo -o epochs 30
      labeler autolabel sample_data/scenes --plugin yolo -o model runs/labeler-train/yolo/weights/best.pt
      labeler train DIR --plugin yolo --folds 5 && labeler check DIR --plugin detection_errors
    """
    from labeler.plugins import get_registry

    cls = get_registry().get("autolabelers", plugin_name)
    if cls.TrainOptions is None:
        trainable = sorted(
            n for n, c in get_registry().autolabelers.items() if c.TrainOptions is not None
        )
        raise UsageError(
            f"plugin {plugin_name!r} cannot be trained (trainable: {', '.join(trainable) or 'none installed'})"
        )
    cls.ensure_requirements()
    plugin = cls()
    fake = type("TrainPlugin", (), {"name": plugin_name, "Options": cls.TrainOptions})
    train_options = parse_plugin_options(fake, options)  # type: ignore[arg-type]
    ds = _open(directory, labels)
    if folds == 1:
        raise UsageError("--folds 1: give at least 2 folds (or leave --folds out to train one model)")
    if folds:
        from labeler.oof import train_out_of_fold

        with _progress(f"train {plugin_name} ({folds} folds)", 2 * folds, enabled=not as_json) as update:
            result = train_out_of_fold(ds, cls, train_options, folds, lambda d, t: update(d, t, ""))
    else:
        with _progress(f"train {plugin_name}", 1, enabled=not as_json) as update:
            result = plugin.train(ds, train_options, lambda d, t: update(d, t, ""))
    if as_json:
        click.echo(json.dumps(result, indent=2, default=str))
    else:
        con = _console()
        for key, value in result.items():
            con.print(_esc(f"{key}: {value}"))
    if folds and result.get("problems"):
        sys.exit(EXIT_PROBLEMS)  # images that could not be predicted are listed above


@cli.command("gui")
@click.argument(
    "directory", required=False, type=click.Path(exists=True, file_okay=False, path_type=Path)
)
@click.option(
    "--labels",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder holding the JSON files.",
)
@click.option(
    "--flags", "flags", default=None, metavar="A,B|FILE",
    help="Image flags (checkboxes in the Flags dock, saved in the file's top-level \"flags\"): "
    "comma-separated, or a text file with one flag a line (labelme's --flags).",
)
@click.option(
    "--labelflags", "label_flags", default=None, metavar="JSON|FILE",
    help="Shape flags per label, offered in the label dialog and saved in the shape's \"flags\": "
    "a JSON/YAML mapping of label patterns (regular expressions) to flags, or a file holding one, "
    "e.g. '{\"person\": [\"occluded\"], \".*\": [\"truncated\"]}' (labelme's --labelflags).",
)
def gui_cmd(directory: Path | None, labels: Path | None, flags: str | None, label_flags: str | None) -> None:
    """Open the desktop labeler (needs: pip install 'labeler[gui]').

    \b
    Examples:
      labeler gui sample_data/scenes
      labeler gui
      labeler gui photos --flags blurry,night --labelflags '{"person": ["occluded"]}'
    """
    import importlib.util

    from labeler.editing.flags import parse_flags, parse_label_flags

    image_flags, per_label = parse_flags(flags), parse_label_flags(label_flags)  # errors before Qt
    # Only labeler.gui imports Qt (the import contracts in pyproject.toml): look, do not import.
    if importlib.util.find_spec("PySide6") is None:
        raise UsageError("the GUI needs PySide6: pip install 'labeler[gui]'")
    from labeler.gui.app import run_gui

    sys.exit(run_gui(directory, labels, flags=image_flags, label_flags=per_label))


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=list(argv) if argv is not None else None, prog_name="labeler")


if __name__ == "__main__":  # pragma: no cover
    main()
