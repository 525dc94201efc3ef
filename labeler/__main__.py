"""``python -m labeler``: the same as the ``labeler`` command."""

from labeler.cli import main

if __name__ == "__main__":
    main()
