"""``labeler example-hello DIR``: how many images, how many labelled, which labels."""

from __future__ import annotations

import json
from collections import Counter

import click

from labeler.dataset import open_dataset
from labeler.errors import FileProblem


@click.command("example-hello")
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
def hello(directory: str, as_json: bool) -> None:
    """Count the images of DIRECTORY, the labelled ones, and the labels per class."""
    dataset = open_dataset(directory)
    errors: list[FileProblem] = []
    per_class: Counter[str] = Counter()
    labeled = 0
    for _item, ann in dataset.annotations(errors=errors):
        if ann.is_labeled:
            labeled += 1
        per_class.update(ann.labels())
    counts = {
        "images": len(dataset),
        "labeled": labeled,
        "labels": sum(per_class.values()),
        "per_class": dict(sorted(per_class.items())),
        "unreadable": [str(e) for e in errors],
    }
    if as_json:
        click.echo(json.dumps(counts, indent=2))
        return
    classes = ", ".join(f"{name} {n}" for name, n in sorted(per_class.items()))
    click.echo(
        f"{counts['images']} images, {labeled} labeled, {counts['labels']} labels"
        + (f": {classes}" if classes else "")
    )
    for err in errors:
        click.echo(f"unreadable: {err}", err=True)
