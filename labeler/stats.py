"""``labeler stats``: what is in a dataset, as a dict (``--json``) or a printed summary."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from labeler.dataset import Dataset
from labeler.errors import FileProblem, ImageFileError
from labeler.exporting import LABELME_RESERVED_CLASSES
from labeler.io.images import not_regular_reason

if TYPE_CHECKING:
    from rich.console import Console


def compute_image_statistics(
    ds: Dataset, progress: Callable[[int, int, str], None] | None = None
) -> tuple[dict[str, Any], list[ImageFileError]]:
    """Decode every image once, reduced, for normalisation mean/std per channel (and the
    single-channel figure), sizes, aspect ratios and the share of grayscale images.

    Returns the figures (:meth:`ImageStatistics.to_dict`) and the unreadable images' errors."""
    from labeler.image_properties import ImageStatistics, decode_small

    acc = ImageStatistics()
    problems: list[ImageFileError] = []
    items = ds.scan().items
    for n, item in enumerate(items, 1):
        try:
            acc.add(decode_small(item.image_path))
        except ImageFileError as err:
            problems.append(err)
        if progress is not None:
            progress(n, len(items), item.rel)
    return acc.to_dict(), problems


def compute_stats(
    ds: Dataset, images: bool = False, progress: Callable[[int, int, str], None] | None = None
) -> dict[str, Any]:
    """Counts per class, per review state and per issue kind, and balance figures; with
    ``images``, also :func:`compute_image_statistics` under ``"image_statistics"``."""
    errors: list[FileProblem] = []
    shape_classes: Counter[str] = Counter()
    image_classes: Counter[str] = Counter()
    images_per_class: Counter[str] = Counter()
    shape_types: Counter[str] = Counter()
    review: Counter[str] = Counter()
    issues: Counter[str] = Counter()
    issue_states: Counter[str] = Counter()
    per_image: list[int] = []
    labeled = unlabeled_files = excluded = reviewed = with_suggestions = 0
    scan = ds.scan()
    for _item, ann in ds.annotations(errors=errors):
        shapes = [s for s in ann.shapes if s.review != "rejected"]
        per_image.append(len(shapes))
        for s in shapes:
            shape_classes[s.label] += 1
            shape_types[s.shape_type] += 1
            review[s.review or "human"] += 1
        for lab in ann.meta.image_labels:
            if lab.review != "rejected":
                image_classes[lab.label] += 1
        for name in set(ann.labels()):
            images_per_class[name] += 1
        if ann.meta.rejected:
            review["rejected"] += len(ann.meta.rejected)
        for issue in ann.meta.issues:
            issue_states[issue.state] += 1
            if issue.state == "open":
                issues[issue.kind] += 1
        if ann.is_labeled:
            labeled += 1
        else:
            unlabeled_files += 1
        excluded += ann.meta.exclude
        reviewed += ann.meta.reviewed
        with_suggestions += bool(ann.suggestions)
    reserved: Counter[str] = Counter()
    for name in LABELME_RESERVED_CLASSES:  # not classes: not counted, not exported
        for table in (shape_classes, image_classes, images_per_class):
            n = table.pop(name, 0)
            if table is not images_per_class:
                reserved[name] += n
    reserved = +reserved
    total_classes = shape_classes + image_classes
    counts = [n for n in total_classes.values() if n > 0]
    n_images = len(scan.items)
    extra: dict[str, Any] = {}
    if images:
        extra["image_statistics"], problems = compute_image_statistics(ds, progress)
        seen = {str(e) for e in errors}
        errors.extend(p for p in problems if str(p) not in seen)
    return {
        "root": str(ds.root),
        "images": n_images,
        "label_files": len(per_image),
        "labeled_images": labeled,
        "unlabeled_images": n_images - labeled,
        "unreadable": [str(e) for e in errors]
        + [f"{p}: {not_regular_reason(p) or 'not a regular file'}" for p in scan.not_regular],
        "classes": dict(total_classes.most_common()),
        "reserved_labels": dict(reserved.most_common()),
        "shape_classes": dict(shape_classes.most_common()),
        "image_label_classes": dict(image_classes.most_common()),
        "images_per_class": dict(images_per_class.most_common()),
        "shape_types": dict(shape_types.most_common()),
        "shapes": sum(per_image),
        "shapes_per_image": {
            "mean": round(sum(per_image) / len(per_image), 3) if per_image else 0.0,
            "min": min(per_image) if per_image else 0,
            "max": max(per_image) if per_image else 0,
            "histogram": dict(sorted(Counter(per_image).items())),
        },
        "review_states": dict(review),
        "images_with_suggestions": with_suggestions,
        "reviewed_images": reviewed,
        "excluded_images": excluded,
        "open_issues": dict(issues.most_common()),
        "issue_states": dict(issue_states),
        "class_imbalance_ratio": round(max(counts) / min(counts), 3) if counts else None,
        **extra,
    }


def _bar(n: int, biggest: int, width: int = 30) -> str:
    return "#" * max(1, round(width * n / biggest)) if biggest else ""


def render_stats(stats: dict[str, Any], con: Console) -> None:
    """Print the stats as tables with a text bar chart of the class distribution."""
    from rich.markup import escape
    from rich.table import Table

    con.print(
        f"[bold]{escape(str(stats['root']))}[/]: {stats['images']} image(s), {stats['labeled_images']} labeled, "
        f"{stats['unlabeled_images']} without labels, {stats['shapes']} shape(s)"
    )
    classes: dict[str, int] = stats["classes"]
    if classes:
        table = Table(title="Classes", show_edge=False)
        for col, just in (
            ("class", "left"),
            ("shapes", "right"),
            ("image labels", "right"),
            ("images", "right"),
            ("", "left"),
        ):
            table.add_column(col, justify=just)  # type: ignore[arg-type]
        biggest = max(classes.values())
        for name, n in classes.items():
            table.add_row(
                escape(name),
                str(stats["shape_classes"].get(name, 0)),
                str(stats["image_label_classes"].get(name, 0)),
                str(stats["images_per_class"].get(name, 0)),
                f"[cyan]{_bar(n, biggest)}[/]",
            )
        con.print(table)
        con.print(f"class imbalance ratio (largest / smallest): {stats['class_imbalance_ratio']}")
    spi = stats["shapes_per_image"]
    con.print(f"shapes per image: mean {spi['mean']}, min {spi['min']}, max {spi['max']}")
    if stats["shape_types"]:
        con.print(escape("shape types: " + ", ".join(f"{k} {v}" for k, v in stats["shape_types"].items())))
    if stats["review_states"]:
        con.print(
            "review states: " + ", ".join(f"{k} {v}" for k, v in stats["review_states"].items())
        )
    if stats["open_issues"]:
        con.print(escape("open issues: " + ", ".join(f"{k} {v}" for k, v in stats["open_issues"].items())))
    if stats.get("reserved_labels"):
        con.print(
            escape(
                "labelme's reserved names, not counted as classes (export skips them): "
                + ", ".join(f"{k} {v}" for k, v in stats["reserved_labels"].items())
            )
        )
    img = stats.get("image_statistics")
    if img and img.get("images"):
        render_image_statistics(img, con)
    if stats["excluded_images"]:
        con.print(f"excluded from export: {stats['excluded_images']}")
    for err in stats["unreadable"]:
        con.print(f"[red]unreadable[/] {escape(str(err))}")


def render_image_statistics(img: dict[str, Any], con: Console) -> None:
    """Print the ``--images`` figures: normalisation mean/std, grayscale share, sizes."""
    from rich.table import Table

    norm = img["normalize"]
    con.print(f"[bold]Images[/] ({img['images']} decoded, {img['computed_at']}): "
              f"{img['grayscale_images']} grayscale ({100 * img['grayscale_share']:.1f}%)")
    table = Table(title="Normalisation (pixel values in [0, 1])", show_edge=False)
    for col in ("channel", "mean", "std"):
        table.add_column(col, justify="left" if col == "channel" else "right")
    for c, m, s in zip(("R", "G", "B"), img["mean"], img["std"], strict=True):
        table.add_row(c, f"{m:.4f}", f"{s:.4f}")
    table.add_row("grey (one channel)", f"{img['gray_mean']:.4f}", f"{img['gray_std']:.4f}")
    con.print(table)
    what = "one channel (the set is grayscale)" if norm["channels"] == 1 else "RGB"
    con.print(f"normalise with mean={norm['mean']} std={norm['std']} ({what})")
    for key, title in (("width", "width"), ("height", "height"), ("aspect_ratio", "aspect ratio w/h")):
        q = img[key]
        con.print(f"{title}: min {q['min']:g}, 5% {q['p5']:g}, median {q['median']:g}, "
                  f"95% {q['p95']:g}, max {q['max']:g}")
    biggest = max((b["count"] for b in img["aspect_histogram"]), default=0)
    for b in img["aspect_histogram"]:
        if b["count"]:
            con.print(f"  aspect {b['bin']:>9} {b['count']:>6} [cyan]{_bar(b['count'], biggest)}[/]")
