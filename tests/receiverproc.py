"""A vendor's receiver as an OS process of its own, so a test can SIGKILL it.

``python -m tests.receiverproc <amqp url> <database url>``: receives the url's user's inbox into the
database's ``effects`` table (tests/receiver_helpers.py) until SIGTERM; the database is
``sqlite:///<file>`` or a PostgreSQL url with ``?schema=<name>``.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

from zorghub_receiver import Receiver

from tests.receiver_helpers import effects_table, open_db, record_effect

ROOT = Path(__file__).resolve().parent.parent


def start(url: str, db_url: str, log_file: Path) -> subprocess.Popen[bytes]:
    log = open(log_file, "ab")  # noqa: SIM115  (kept for the child)
    return subprocess.Popen([sys.executable, "-m", "tests.receiverproc", url, db_url], cwd=ROOT,
                            env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=log)


def main(url: str, db_url: str) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    db = open_db(db_url)
    effects_table(db)
    receiver = Receiver(url, db, record_effect, batch_size=200, tail_check=3.0, resend_after=5.0)
    signal.signal(signal.SIGTERM, lambda *_: receiver.stop())
    receiver.run()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
