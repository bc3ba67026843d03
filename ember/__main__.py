"""`python -m ember COMMAND ...`: the `ember` command (see ember.cli)."""
import sys

from .cli import main

sys.exit(main())
