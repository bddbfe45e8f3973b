"""``python -m picohttp``: see ``_cli.py``."""

import sys

from ._cli import main

sys.exit(main())
