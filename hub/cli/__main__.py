"""``python -m hub.cli``: the same command as ``zorghub``."""

import sys

from hub.cli.main import main

sys.exit(main())
