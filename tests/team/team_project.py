"""A team's project for tests/team/: the pipeline in a bare git "origin" whose DVC remote is
the stack's S3 bucket, clones of it, and commands run in them with the team's environment."""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from git_dvc_repo import DVC, commit_all, copy_pipeline, init_repo, repo_env, run_checked

from ferflow.tools.team import TeamStack

TINY = {
    "data.synthetic.rows": 140,
    "train.backbones": ["shallow_cnn"],
    "train.epochs": 2,
    "models.shallow_cnn.width": 0.125,
    "evaluate.tta": ["none"],
    "evaluate.misclassified": 4,
}


@dataclass
class Team:
    """A running stack, its admin password, and every command output the tests saw (the
    secrets check greps them)."""

    stack: TeamStack
    password: str
    start_s: float
    logs: list[str] = field(default_factory=list)

    def env(self, **extra: str) -> dict[str, str]:
        return {**repo_env(), **self.stack.client_env(self.password), **extra}

    def run(self, *args: str, cwd: Path, env: dict[str, str] | None = None,
            check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(args, cwd=cwd, env=env or self.env(), capture_output=True,
                                text=True, timeout=600)
        self.logs.append(result.stdout + result.stderr)
        if check:
            assert result.returncode == 0, (f"{' '.join(args)} ({result.returncode}):\n"
                                            f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
        return result

    def dvc(self, cwd: Path, *args: str, check: bool = True,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return self.run(*DVC, *args, cwd=cwd, env=env, check=check)

    def start(self, cwd: Path, *args: str) -> subprocess.Popen[str]:
        """Start a command (to run several at once); `finish` waits for it."""
        return self.start_with(cwd, self.env(), *args)

    def start_with(self, cwd: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)

    def finish(self, proc: subprocess.Popen[str]) -> str:
        out, _ = proc.communicate(timeout=600)
        self.logs.append(out)
        assert proc.returncode == 0, f"{proc.args} ({proc.returncode}):\n{out[-4000:]}"
        return out


def make_origin(root: Path, stack: TeamStack, overrides: dict | None = None) -> Path:
    """The tiny pipeline committed, with the team's DVC remote, as a bare repository."""
    work = copy_pipeline(root / "seed", {**TINY, **(overrides or {})})
    env = repo_env()
    init_repo(work, env)
    # The README's commands: the remote and its endpoint are committed, keys come from the env.
    run_checked(*DVC, "remote", "add", "-d", "team", stack.dvc_remote, cwd=work, env=env)
    run_checked(*DVC, "remote", "modify", "team", "endpointurl", stack.s3_url, cwd=work,
                env=env)
    commit_all(work, env, "pipeline")
    origin = root / "origin.git"
    run_checked("git", "clone", "-q", "--bare", str(work), str(origin), cwd=root, env=env)
    shutil.rmtree(work)
    return origin


def clone(origin: Path, dest: Path) -> Path:
    run_checked("git", "clone", "-q", str(origin), str(dest), cwd=origin.parent, env=repo_env())
    return dest


def python(*args: str) -> tuple[str, ...]:
    return (sys.executable, *args)
