"""The editing layer: what the desktop labeler does, without Qt.

:class:`~labeler.editing.document.Document` is one image's annotation with undo and its save
state; :mod:`labeler.editing.tools` holds one tool per drawing mode (press, move, release and
preview in image coordinates) in one registry; :class:`~labeler.editing.session.Session` holds
the dataset, the open documents, selection, clipboard, classes, the save / autosave / conflict
policy, review targeting and plugin jobs, and emits typed events. ``labeler.gui`` is a view over
this layer; nothing here imports Qt (checked by the import contracts in ``pyproject.toml``).
"""
