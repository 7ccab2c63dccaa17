"""``python -m hub.cli``: the same command as ``zorghub``."""

import sys

try:
    from hub.cli.main import main
except KeyboardInterrupt:  # Ctrl-C while the command is still starting: no traceback either
    print("zorghub: interrupted", file=sys.stderr)
    sys.exit(130)

sys.exit(main())
