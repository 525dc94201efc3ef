"""labeler.threads: the OpenMP wait policy of an interactive process (sleep_when_idle)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

#: Runs in a fresh interpreter: the rule, then torch loads and runs one parallel region; libgomp
#: prints the settings it read (OMP_DISPLAY_ENV=VERBOSE) on stderr.
SCRIPT = """
import sys
from labeler.threads import sleep_when_idle
print("applied" if sleep_when_idle() else "not applied")
import torch
torch.set_num_threads(2)
torch.ones(512, 512).sum()
print("again", sleep_when_idle())
"""


def _run(env_extra: dict[str, str], script: str = SCRIPT) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env.update(env_extra, OMP_DISPLAY_ENV="VERBOSE",
               PYTHONPATH=os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                          timeout=120, check=True)


def test_openmp_workers_sleep_when_idle_once_set_before_torch_loads() -> None:
    out = _run({})
    assert out.stdout.splitlines() == ["applied", "again False"]  # once torch is in, too late
    # libgomp then waits for work without spinning (its default spins 300,000 rounds).
    assert "OMP_WAIT_POLICY = 'PASSIVE'" in out.stderr and "GOMP_SPINCOUNT = '0'" in out.stderr


def test_the_persons_openmp_wait_policy_is_kept() -> None:
    out = _run({"OMP_WAIT_POLICY": "ACTIVE"})
    assert out.stdout.splitlines()[0] == "not applied"
    assert "OMP_WAIT_POLICY = 'ACTIVE'" in out.stderr and "GOMP_SPINCOUNT = '0'" not in out.stderr


def test_too_late_once_torch_is_loaded() -> None:
    out = _run({}, "import os, torch\nfrom labeler.threads import sleep_when_idle\n"
                   "print(sleep_when_idle(), 'OMP_WAIT_POLICY' in os.environ)\ntorch.ones(512, 512).sum()")
    assert out.stdout.split() == ["False", "False"]  # nothing changed, nothing claimed
    assert "GOMP_SPINCOUNT = '300000'" in out.stderr


def test_every_cli_command_sets_the_policy_before_its_plugins_load(tmp_path: Path) -> None:
    folder = tmp_path / "empty"
    folder.mkdir()
    script = ("import os\nfrom labeler.cli import cli\n"
              f"cli.main(args=['validate', {str(folder)!r}], standalone_mode=False)\n"
              "print('policy', os.environ.get('OMP_WAIT_POLICY'))\n")
    out = _run({}, script)
    assert out.stdout.splitlines()[-1] == "policy PASSIVE"
