"""docs/plugins.md stays in step with the code (as datasette's test_docs does).

- every hook in ``labeler.hookspecs`` has a docstring and a ``### register_xxx`` section that
  shows its exact signature;
- every Python example in the page compiles;
- excerpts marked ``# file: PATH`` are copied verbatim from that file, so the walkthrough of the
  example plugin cannot drift from the code.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from labeler import hookspecs

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "plugins.md"
HOOKS = sorted(name for name, obj in vars(hookspecs).items() if hasattr(obj, "labeler_spec"))


def doc_text() -> str:
    return DOC.read_text(encoding="utf-8")


def sections() -> dict[str, str]:
    """``### heading`` -> the text up to the next heading of level 3 or above."""
    out: dict[str, str] = {}
    parts = re.split(r"^(#{1,3}) (.+)$", doc_text(), flags=re.MULTILINE)
    for i in range(1, len(parts) - 2, 3):
        if parts[i] == "###":
            out[parts[i + 1].strip()] = parts[i + 2]
    return out


def code_blocks(lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", doc_text(), flags=re.MULTILINE | re.DOTALL)


def test_hooks_found() -> None:
    assert "register_autolabelers" in HOOKS and "register_commands" in HOOKS


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_has_a_one_line_docstring(hook: str) -> None:
    doc = inspect.getdoc(getattr(hookspecs, hook))
    assert doc, f"hookspecs.{hook} has no docstring"
    summary = doc.splitlines()[0]
    assert summary.strip() and summary.rstrip().endswith("."), (
        f"hookspecs.{hook}: the docstring must start with a one-line summary ending in '.'"
    )


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_documented_with_its_signature(hook: str) -> None:
    found = sections()
    assert hook in found, f"docs/plugins.md has no '### {hook}' section"
    source = inspect.getsource(getattr(hookspecs, hook))
    signature = re.search(r"^def .*?\) -> [^:]+", source, flags=re.MULTILINE | re.DOTALL)
    assert signature is not None
    expected = " ".join(signature.group(0).split())
    assert expected in " ".join(found[hook].split()), (
        f"the '### {hook}' section of docs/plugins.md must show the signature: {expected}"
    )


def test_python_examples_compile() -> None:
    blocks = code_blocks("python")
    assert blocks
    for block in blocks:
        lines = block.splitlines()
        if lines and lines[0].startswith("# file: "):
            continue  # excerpts (indented methods) are checked against their file instead
        compile(block, "docs/plugins.md", "exec")


def test_file_excerpts_match_the_code() -> None:
    excerpts = [b for b in code_blocks("python") if b.startswith("# file: ")]
    assert len(excerpts) >= 5
    for block in excerpts:
        first, _, body = block.partition("\n")
        path = ROOT / first.removeprefix("# file: ").strip()
        assert path.is_file(), f"docs/plugins.md quotes {path}, which does not exist"
        assert body.strip("\n") in path.read_text(encoding="utf-8"), (
            f"docs/plugins.md quotes {path.relative_to(ROOT)} but the code has changed:\n{body}"
        )


def test_base_classes_and_example_names_are_documented() -> None:
    text = doc_text()
    for name in (
        "Autolabeler",
        "ChainedAutolabeler",
        "Check",
        "Fixer",
        "Importer",
        "Exporter",
        "Sample",
        "Finding",
        "Report",
        "ExportItem",
        "ImportedImage",
        "Predictions",
        "config_key",
        "setup",
        "LABELER_PLUGINS",
        "register_plugin",
        "ensure_requirements",
    ):
        assert name in text, f"docs/plugins.md does not mention {name}"
    for name in (
        "example_blobs",
        "example_dark",
        "example_duplicates",
        "example_exclude",
        "bbox-csv",
        "example-hello",
    ):
        assert name in text, f"the walkthrough does not mention {name}"


def test_every_picture_and_relative_link_of_the_docs_exists() -> None:
    """Each ``![..](path)`` and relative ``[..](path)`` in README.md and docs/*.md names a file
    that is in the repository (a screenshot the docs show must be there)."""
    import re

    missing = []
    for md in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)\s]+)\)", md.read_text(encoding="utf-8")):
            path = target.split("#", 1)[0]
            if not path or "://" in path or path.startswith("mailto:"):
                continue
            if not (md.parent / path).exists():
                missing.append(f"{md.relative_to(ROOT)}: {target}")
    assert not missing, missing


def test_the_command_reference_is_the_commands_own_help() -> None:
    """docs/cli.md is generated from every command's --help (scripts/cli_reference.py); run in
    a fresh process, so that plugins other tests registered are not in it."""
    import subprocess
    import sys

    res = subprocess.run([sys.executable, str(ROOT / "scripts" / "cli_reference.py"), "--check"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    page = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    for command in ("autolabel", "check", "fix", "review", "export", "import", "gui", "train"):
        assert f"## labeler {command}\n" in page
    assert "yolo_sam:" in page and "sam.model_type" in page  # the built-in plugins' options
    assert "example-hello" not in page and "[needs:" not in page
