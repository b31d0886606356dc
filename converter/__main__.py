"""``python -m converter``: see converter/cli.py."""
import sys

from .cli import main

sys.exit(main())
