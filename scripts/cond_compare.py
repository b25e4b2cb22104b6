"""Markdown table of a cond_compare multirun: test PSNR after test-time optimisation and parameter counts.

    python train.py experiment=cond_compare              # writes <multirun dir>/cond_compare.md itself
    python scripts/cond_compare.py multirun/2026-11-24/12-00-00_000000 [--out table.md]   # the table again

The table is nfields/analysis/cond_compare.py's (its Hydra callback writes it at the end of the multirun);
this is its command line, for a multirun that has already finished.
"""

from __future__ import annotations

import argparse
import sys

from nfields.analysis.cond_compare import write_table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("multirun_dir", help="a multirun directory (one numbered run dir per job)")
    ap.add_argument("--out", default=None, help="where to write the table (default: <multirun_dir>/cond_compare.md)")
    args = ap.parse_args()
    path = write_table(args.multirun_dir, args.out)
    print(path.read_text(), end="")
    print(f"-> {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
