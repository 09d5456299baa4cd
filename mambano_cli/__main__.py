"""``python -m mambano_cli``: the same as the ``mambano`` command."""

from mambano_cli.app import main

main()
