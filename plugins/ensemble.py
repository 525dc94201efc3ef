"""Built-in plugin ``ensemble``: being written (its entry point is registered ahead so that the
work on it can be tried from the command line); it registers nothing yet."""
