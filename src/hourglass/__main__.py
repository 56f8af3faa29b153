"""``python -m hourglass`` (also what ``torchrun -m hourglass`` starts)."""

import sys

from hourglass.cli import main

sys.exit(main())
