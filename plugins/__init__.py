"""labeler's built-in plugins, installed as the package ``labeler_plugins``."""
