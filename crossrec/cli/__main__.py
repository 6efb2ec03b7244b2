"""``python -m crossrec.cli``: the same as the ``crossrec`` command."""

from crossrec.cli import main

main()
