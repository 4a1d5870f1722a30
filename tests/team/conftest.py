"""The team's stack for a test module: PostgreSQL, moto's S3 server and `mlflow server` behind
basic auth, all real processes on free ports of 127.0.0.1, stopped at the end whatever
happens (ferflow.tools.team, the same code as `make team-up`)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator

import pytest
from team_project import Team

from ferflow.tools.team import TeamStack


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Team]:
    stack = TeamStack(str(tmp_path_factory.mktemp("stack")))
    password = f"pw-{secrets.token_hex(12)}"
    started = time.monotonic()
    try:
        stack.up(password)
        start_s = time.monotonic() - started
        print(f"team stack started in {start_s:.1f} s")
        yield Team(stack, password, start_s)
    finally:
        stack.down()
