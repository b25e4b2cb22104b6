"""Print the command a W&B agent would run for one sample of a sweep config (no server needed).

    python scripts/sweep_command.py scripts/wandb_sweep.yaml [--run]

It expands the sweep's `command` template the way `wandb agent` does (${env}, ${interpreter},
${program}, ${args}, ${args_no_hyphens}) with the first value (or the lower bound) of each
parameter, so a sweep definition can be checked locally before launching it. --run executes it.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from pathlib import Path

import yaml

DEFAULT_COMMAND = ["${env}", "${interpreter}", "${program}", "${args}"]


def sample(spec: dict) -> object:
    """A deterministic representative value of one sweep parameter."""
    if "value" in spec:
        return spec["value"]
    if "values" in spec:
        return spec["values"][0]
    if "min" in spec:
        return spec["min"]
    raise ValueError(f"cannot sample sweep parameter spec {spec}")


def agent_command(sweep: dict, root: Path, python: str = sys.executable) -> list[str]:
    params = {k: sample(v) for k, v in sweep.get("parameters", {}).items()}
    expand = {
        "${env}": ["/usr/bin/env"],
        "${interpreter}": [python],
        "${program}": [str(root / sweep["program"])],
        "${args}": [f"--{k}={v}" for k, v in params.items()],
        "${args_no_hyphens}": [f"{k}={v}" for k, v in params.items()],
    }
    return [part for item in sweep.get("command", DEFAULT_COMMAND) for part in expand.get(item, [item])]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sweep", type=Path)
    ap.add_argument("--run", action="store_true", help="run the command")
    ap.add_argument("extra", nargs="*", help="extra Hydra overrides appended (e.g. debug=fast)")
    a = ap.parse_args()
    cmd = agent_command(yaml.safe_load(a.sweep.read_text()), Path(__file__).resolve().parents[1]) + a.extra
    print(shlex.join(cmd))
    if a.run:
        sys.exit(subprocess.run(cmd).returncode)


if __name__ == "__main__":
    main()
