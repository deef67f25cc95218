"""``python -m slawatch``: the same as the ``slawatch`` console script."""

from slawatch.cli import main

raise SystemExit(main())
