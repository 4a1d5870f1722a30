"""A team's shared store on one machine: PostgreSQL, an S3 server (moto), `mlflow server` on
both behind MLflow's basic-auth app, and a bucket for the DVC remote. The tests start it
(tests/team/) and a user can try the README's "Past one machine" with it:

    python -m ferflow.tools.team up [DIR]     # make team-up; prints the environment to export
    python -m ferflow.tools.team down [DIR]   # make team-down

Everything listens on 127.0.0.1 (free ports) and lives in DIR (default .ferflow/team). It is a
throwaway store: PostgreSQL trusts local TCP connections and skips fsync, moto keeps the bucket
in memory. The admin password comes from $MLFLOW_TRACKING_PASSWORD (a new one is made and
shown once when it is unset); it is handed to the server in its environment, never a file.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

from ferflow.errors import FerflowError

HOST = "127.0.0.1"



def _pg_bin() -> Path:
    """$FERFLOW_PG_BIN, else the newest Debian PostgreSQL (/usr/lib/postgresql/<N>/bin)."""
    if os.environ.get("FERFLOW_PG_BIN"):
        return Path(os.environ["FERFLOW_PG_BIN"])
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                   key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0)
    if not found:
        raise FerflowError("PostgreSQL not found in /usr/lib/postgresql/*/bin: apt-get install "
                           "postgresql, or set FERFLOW_PG_BIN to the folder with initdb")
    return found[-1].parent


STATE = "team.json"
S3_KEYS = {"AWS_ACCESS_KEY_ID": "ferflow-team", "AWS_SECRET_ACCESS_KEY": "ferflow-team",
           "AWS_DEFAULT_REGION": "us-east-1"}
"""moto takes any keys; DVC and the tracking server still need some to sign requests."""
START_TIMEOUT_S = 120.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _as_postgres(cmd: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run its server tools as the `postgres` user."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def _wait_http(url: str, proc: subprocess.Popen[bytes] | None, log: Path) -> None:
    """Until `url` answers HTTP at all (a 401 is an answer); FerflowError with the log tail
    when the process exits first or nothing answers within START_TIMEOUT_S."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            break
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.3)
    tail = log.read_text(errors="replace")[-3000:] if log.is_file() else ""
    raise FerflowError(f"{url} did not come up (log {log}):\n{tail}")


def _stop(pid: int | None, *, crash: bool = False) -> None:
    """SIGTERM the process group of `pid`, SIGKILL it after 5 s (at once for a `crash`)."""
    if not pid:
        return
    signals = ((signal.SIGKILL, 5.0),) if crash else ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0))
    for sig, wait_s in signals:
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            try:
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    return
            except ChildProcessError:  # not our child (`team down` from another shell)
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    return
            time.sleep(0.1)


@dataclass
class TeamStack:
    """Ports, folders and process ids of one stack; saved as DIR/team.json (no secrets)."""

    root: str
    pg_data: str = ""
    pg_port: int = 0
    s3_port: int = 0
    s3_pid: int = 0
    tracking_port: int = 0
    tracking_pid: int = 0
    bucket: str = "ferflow"
    admin: str = "admin"

    @property
    def postgres_uri(self) -> str:
        return f"postgresql://postgres@{HOST}:{self.pg_port}/mlflow"

    @property
    def s3_url(self) -> str:
        return f"http://{HOST}:{self.s3_port}"

    @property
    def tracking_url(self) -> str:
        return f"http://{HOST}:{self.tracking_port}"

    @property
    def dvc_remote(self) -> str:
        return f"s3://{self.bucket}/dvc"

    @property
    def logs(self) -> Path:
        return Path(self.root) / "logs"

    def save(self) -> None:
        Path(self.root, STATE).write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, root: Path) -> TeamStack:
        path = root / STATE
        if not path.is_file():
            raise FerflowError(f"no stack in {root} ({STATE} missing); start one: make team-up")
        return cls(**json.loads(path.read_text()))

    def client_env(self, password: str) -> dict[str, str]:
        """What a machine of the team exports to use this stack."""
        return {"MLFLOW_TRACKING_URI": self.tracking_url, "MLFLOW_TRACKING_USERNAME": self.admin,
                "MLFLOW_TRACKING_PASSWORD": password, **S3_KEYS}

    # PostgreSQL: the tracking server's runs and registry, and the auth app's users.
    def start_postgres(self) -> None:
        if not self.pg_data:
            folder = Path(tempfile.mkdtemp(prefix="ferflow-pg-"))
            if os.geteuid() == 0:  # the postgres user must own it (and reach it: not under
                shutil.chown(folder, "postgres")  # root's 0700 pytest temp folder)
            self.pg_data = str(folder / "data")
            self.pg_port = self.pg_port or free_port()
            subprocess.run(_as_postgres([str(_pg_bin() / "initdb"), "-D", self.pg_data, "-U",
                                         "postgres", "--auth=trust", "--no-sync"]),
                           check=True, capture_output=True)
            created = True
        else:
            created = False
        folder = Path(self.pg_data).parent
        subprocess.run(_as_postgres([
            str(_pg_bin() / "pg_ctl"), "-D", self.pg_data, "-l", str(folder / "postgres.log"),
            "-w",
            "-o", f"-h {HOST} -p {self.pg_port} -k {folder} -c fsync=off", "start"]),
            check=True, capture_output=True)
        if created:
            for db in ("mlflow", "mlflow_auth"):
                subprocess.run([str(_pg_bin() / "createdb"), "-h", HOST, "-p", str(self.pg_port),
                                "-U", "postgres", db], check=True, capture_output=True)

    def stop_postgres(self) -> None:
        if self.pg_data and Path(self.pg_data, "postmaster.pid").exists():
            subprocess.run(_as_postgres([str(_pg_bin() / "pg_ctl"), "-D", self.pg_data, "-m",
                                         "fast", "-w", "stop"]), capture_output=True)

    def postgres_dump(self) -> str:
        return subprocess.run([str(_pg_bin() / "pg_dumpall"), "-h", HOST, "-p", str(self.pg_port),
                               "-U", "postgres"], check=True, capture_output=True,
                              text=True).stdout

    # S3: the tracking server's artifacts and the DVC remote, in one bucket.
    def start_s3(self) -> subprocess.Popen[bytes]:
        self.s3_port = self.s3_port or free_port()
        self.logs.mkdir(parents=True, exist_ok=True)
        log = self.logs / "s3.log"
        with open(log, "ab") as out:
            proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", HOST, "-p",
                                     str(self.s3_port)], stdout=out, stderr=out,
                                    start_new_session=True)
        self.s3_pid = proc.pid
        _wait_http(f"{self.s3_url}/moto-api/", proc, log)
        # moto keeps the bucket in memory: a restarted server starts without it.
        request = urllib.request.Request(f"{self.s3_url}/{self.bucket}", method="PUT")
        urllib.request.urlopen(request, timeout=10).close()
        return proc

    def stop_s3(self, *, crash: bool = False) -> None:
        _stop(self.s3_pid, crash=crash)
        self.s3_pid = 0

    # The tracking server: runs, registry and artifact proxy, behind basic auth.
    def start_tracking(self, password: str) -> subprocess.Popen[bytes]:
        self.tracking_port = self.tracking_port or free_port()
        root = Path(self.root)
        auth_ini = root / "basic_auth.ini"  # where the auth app keeps users; no password
        auth_ini.write_text(
            "[mlflow]\ndefault_permission = READ\n"
            f"database_uri = postgresql://postgres@{HOST}:{self.pg_port}/mlflow_auth\n"
            f"admin_username = {self.admin}\n"
            "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
            # Without the cache every request pays a PBKDF2 check (~0.5 s on 2 cores).
            "auth_cache_ttl_seconds = 60\n")
        env = {**os.environ, **S3_KEYS, "MLFLOW_S3_ENDPOINT_URL": self.s3_url,
               "MLFLOW_AUTH_CONFIG_PATH": str(auth_ini), "MLFLOW_AUTH_ADMIN_PASSWORD": password,
               "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_hex(16)}
        for key in ("MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
            env.pop(key, None)
        self.logs.mkdir(parents=True, exist_ok=True)
        log = self.logs / "tracking.log"
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "mlflow", "server", "--app-name", "basic-auth",
                 "--backend-store-uri", self.postgres_uri,
                 "--artifacts-destination", f"s3://{self.bucket}/mlartifacts",
                 "--host", HOST, "--port", str(self.tracking_port), "--workers", "2"],
                stdout=out, stderr=out, env=env, cwd=root, start_new_session=True)
        self.tracking_pid = proc.pid
        _wait_http(f"{self.tracking_url}/health", proc, log)
        return proc

    def stop_tracking(self, *, crash: bool = False) -> None:
        _stop(self.tracking_pid, crash=crash)
        self.tracking_pid = 0

    def up(self, password: str) -> None:
        Path(self.root).mkdir(parents=True, exist_ok=True)
        try:
            self.start_postgres()
            self.start_s3()
            self.start_tracking(password)
        except BaseException:
            self.down()
            raise
        finally:
            self.save()

    def down(self) -> None:
        self.stop_tracking()
        self.stop_s3()
        self.stop_postgres()
        if self.pg_data:
            shutil.rmtree(Path(self.pg_data).parent, ignore_errors=True)
            self.pg_data = ""
        Path(self.root, STATE).unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] not in ("up", "down"):
        print("usage: python -m ferflow.tools.team up|down [DIR]", file=sys.stderr)
        return 2
    root = Path(args[1] if len(args) > 1 else ".ferflow/team").absolute()
    if args[0] == "down":
        TeamStack.load(root).down()
        print(f"team stack in {root} stopped")
        return 0
    if (root / STATE).is_file():
        raise FerflowError(f"a stack is already recorded in {root}; make team-down first")
    password = os.environ.get("MLFLOW_TRACKING_PASSWORD") or secrets.token_urlsafe(16)
    started = time.monotonic()
    stack = TeamStack(str(root))
    stack.up(password)
    print(f"# team stack up in {time.monotonic() - started:.1f} s; logs in {stack.logs}")
    for key, value in stack.client_env(password).items():
        if key == "MLFLOW_TRACKING_PASSWORD" and "MLFLOW_TRACKING_PASSWORD" in os.environ:
            value = "$MLFLOW_TRACKING_PASSWORD"  # already yours: not echoed
        print(f"export {key}={value}")
    print(f"# DVC remote, in each clone:\n#   dvc remote add -d team {stack.dvc_remote}\n"
          f"#   dvc remote modify team endpointurl {stack.s3_url}")
    return 0


if __name__ == "__main__":
    from ferflow.stage import report_errors

    sys.exit(report_errors(main))
