"""Write docs/cli.md: every command's ``--help``, with the built-in plugins' options.

    python scripts/cli_reference.py          # rewrite docs/cli.md
    python scripts/cli_reference.py --check  # exit 1 when docs/cli.md is out of date

The page is made from the commands themselves (click's help at a fixed width), so it cannot
drift from them: ``tests/test_docs.py`` renders it again and compares. Only labeler's own
plugins are listed (third-party ones, such as the example plugin, are left out), and the
``[needs: pip install ...]`` notes, which depend on what is installed, are dropped.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "cli.md"
WIDTH = 100

HEADER = """# Command reference

Every `labeler` command with its options, examples and, where the command runs plugins, the
built-in plugins and their `-o NAME VALUE` options. This page is generated from the commands'
own `--help` (`python scripts/cli_reference.py`; a test checks that it is up to date), so
`labeler COMMAND --help` prints the same, plus any third-party plugins you installed.

Guides: [autolabel.md](autolabel.md) (models), [checks.md](checks.md) (data checks and fixes),
[review.md](review.md), [formats.md](formats.md) (import and export), [gui.md](gui.md),
[scale.md](scale.md) (Ray), [plugins.md](plugins.md) (writing a plugin).
"""


def _builtin_entry_points() -> str:
    """The entry-point names labeler's own distribution declares, comma-separated."""
    import importlib.metadata as md

    from labeler.plugins import ENTRY_POINT_GROUP

    names = [ep.name for ep in md.entry_points(group=ENTRY_POINT_GROUP)
             if ep.dist is not None and ep.dist.metadata["Name"] == "labeler"]
    return ",".join(sorted(names))


def render() -> str:
    """The page, as :data:`PAGE` should hold it."""
    import click

    from labeler import plugins
    from labeler.plugins import ENV_VAR

    before = os.environ.get(ENV_VAR)
    os.environ[ENV_VAR] = _builtin_entry_points()
    plugins.reset()
    try:
        from labeler.cli import cli

        root = click.Context(cli, info_name="labeler", terminal_width=WIDTH, max_content_width=WIDTH,
                             **cli.context_settings)  # -h, --help as on the command line
        # labeler's own commands only (a plugin's, once loaded, sit in the same group)
        own = {name: cmd for name, cmd in sorted(cli.commands.items())
               if not cmd.hidden and getattr(cmd.callback, "__module__", "").startswith("labeler.")}
        parts = [HEADER, "| command | what it does |\n| --- | --- |"]
        parts += [f"| [`labeler {name}`](#labeler-{name}) | {cmd.get_short_help_str(limit=90)} |"
                  for name, cmd in own.items()]
        parts.append("")
        for name, cmd in own.items():
            ctx = click.Context(cmd, info_name=name, parent=root, terminal_width=WIDTH,
                                max_content_width=WIDTH)
            text = re.sub(r"  \[needs: [^\]]*\]", "", cmd.get_help(ctx))
            parts.append(f"## labeler {name}\n\n```text\n{text}\n```\n")
        return "\n".join(parts)
    finally:
        if before is None:
            os.environ.pop(ENV_VAR, None)
        else:
            os.environ[ENV_VAR] = before
        plugins.reset()


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if PAGE.read_text(encoding="utf-8") != text:
            print(f"{PAGE} is out of date: run python scripts/cli_reference.py", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(text, encoding="utf-8")
    print(f"wrote {PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
