"""``python -m hourglass`` (also what ``torchrun -m hourglass`` starts)."""

import sys

try:
    from hourglass.cli import entry
except KeyboardInterrupt:  # Ctrl-C while Python is still importing: no traceback for that either
    sys.exit(130)

entry()
