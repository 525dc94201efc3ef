"""Moved to :mod:`labeler.editing.document` (Qt-free); kept so that old imports still work."""

from labeler.editing.document import *  # noqa: F403
from labeler.editing.document import (  # noqa: F401
    MAX_UNDO,
    DiskState,
    Document,
    ExternalChangeError,
    merge_disk_version,
)
from labeler.geometry import (  # noqa: F401
    VERTEX_EDITABLE,
    can_add_vertex,
    can_remove_vertex,
    nearest_edge,
    point_in_polygon,
    shape_distance,
)
