"""The desktop labeler (PySide6): a view over the same core and plugins the CLI uses.

Only this package imports Qt (an import contract in ``pyproject.toml``). What the window does
without widgets (documents, undo, tools, saving, review) lives in :mod:`labeler.editing`;
:mod:`labeler.gui.status` (file-list statuses) is plain Python too.
"""
