"""``python -m llmlingstral.cli``: the ``llmlingstral`` command."""

import sys

from .program import main

sys.exit(main())
