"""The desktop labeler (PySide6): a view over the same core and plugins the CLI uses.

Only this package imports Qt, and :mod:`labeler.gui.document` and :mod:`labeler.gui.status`
do not: the document model (undo, dirty state, disk checks) is plain Python.
"""
