"""`econsult simulate`: a month of consults through the real routing, escalation and
deadline code on a simulated clock, the routing policy against a plain-rota baseline."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def cmd_simulate(args: argparse.Namespace) -> int:
    from econsult.ops.simulate import run_simulation, urgent_ack_when_covered
    from econsult.ops.simulation.report import write_outputs

    if args.requests < 0 or args.days < 1:
        print("error: --requests must be >= 0 and --days >= 1", file=sys.stderr)
        return 2
    result = run_simulation(requests=args.requests, days=args.days, seed=args.seed,
                            progress=None if not args.progress else True)
    written = write_outputs(result.outcomes, args.out, roster=result.world.roster())
    print(f"econsult simulate: {args.requests} consults over {args.days} days, seed "
          f"{args.seed}; policy (escalation + load-aware routing) against baseline (plain "
          "rota, no escalation)\n")
    print(written.table)
    covered = urgent_ack_when_covered(result)
    print("\nurgent consults sent while someone was on call (the rest wait in the pool "
          "in both arms):")
    for c in covered:
        print(f"  {c.arm.value:<9} {c.n:>5}  acknowledged within 30 min: "
              f"{c.acknowledged_pct:5.1f}%")
    took = ", ".join(f"{arm.arm.value} {arm.seconds:.0f}s" for arm in result.arms)
    print(f"\nwrote {', '.join(p.name for p in written.files)} to {args.out} ({took})")
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("simulate", help="simulate a month: routing policy vs baseline")
    parser.add_argument("--requests", type=int, default=1600,
                        help="consults over the whole run (default 1600, RACE's month)")
    parser.add_argument("--days", type=int, default=30, help="days simulated (default 30)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--out", type=Path, default=Path("simulation"),
                        help="directory for consults.csv, summary.csv and plots")
    parser.add_argument("--progress", action="store_true",
                        help="show the progress bar even when stderr is not a terminal")
    parser.set_defaults(func=cmd_simulate)
