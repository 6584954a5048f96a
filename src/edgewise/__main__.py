"""``python -m edgewise``: the CLI."""

from edgewise.cli.main import main

main()
