"""The ``mambano`` command-line interface (thin layer over :mod:`mambano_core`)."""
