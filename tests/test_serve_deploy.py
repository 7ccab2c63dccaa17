"""The image and the compose file run the hub so that a stop signal reaches it, as its own user.

No Docker daemon is needed: these read the files a deployment is built from.
"""

from __future__ import annotations

import json
import re
import shlex

from tests.conftest import ROOT


def dockerfile() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]


def test_the_image_runs_serve_as_pid_1_in_exec_form() -> None:
    cmd = [arg for op, arg in dockerfile() if op == "CMD"]
    assert cmd and json.loads(cmd[-1]) == ["zorghub", "serve"]  # exec form: no shell between
    entrypoint = [arg for op, arg in dockerfile() if op == "ENTRYPOINT"]
    assert not entrypoint or json.loads(entrypoint[-1]) == []


def test_the_image_creates_and_owns_a_private_home() -> None:
    steps = dockerfile()
    users = [arg for op, arg in steps if op == "USER"]
    assert users and users[-1] not in ("root", "0")
    home = dict(arg.split("=", 1) for op, arg in steps if op == "ENV" and "=" in arg).get("ZORGHUB_HOME")
    assert home
    run = " ".join(arg for op, arg in steps if op == "RUN")
    assert re.search(rf"install -d -m 0700 -o {users[-1]} -g \S+ {re.escape(home)}\b", run), run


def test_compose_execs_serve_and_waits_longer_than_the_hub() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    hub = text[text.index("\n  hub:"):]
    command = re.search(r"^    command: (.+)$", hub, re.M)
    assert command
    words = shlex.split(command.group(1))
    assert words[:2] == ["sh", "-c"]
    script = words[2]
    last = script.split("&&")[-1].split()
    assert last[:3] == ["exec", "zorghub", "serve"], script
    grace = re.search(r"^    stop_grace_period: (\d+)s", hub, re.M)
    assert grace and int(grace.group(1)) > 10  # the hub's default shutdown_grace_seconds
