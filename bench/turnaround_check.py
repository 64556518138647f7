"""Time GET /api/v1/turnaround against a running server and check its medians, p90s and
% within target against the CSV export, recomputed with econsult.turnaround.stats.

    ECONSULT_DATA_DIR=/tmp/demo1m econsult demo --consults 1000000 --no-serve
    ECONSULT_DATA_DIR=/tmp/demo1m ECONSULT_MFA_REQUIRED=none econsult serve --port 8041 &
    .venv/bin/python -m bench.turnaround_check --url http://127.0.0.1:8041
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import time
from collections import defaultdict

import httpx

from econsult.demo.seed import DEMO_PASSWORD
from econsult.turnaround.stats import summarise

QUERIES = {
    "full range": {"from": "2000-01-01", "to": "2100-01-01"},
    "last 30 days": {},
    "dermatology, routine": {"specialty": "dermatology", "urgency": "routine",
                             "from": "2000-01-01", "to": "2100-01-01"},
}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--email", default="staff@demo.econsult.org")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with httpx.Client(base_url=args.url + "/api/v1", timeout=600) as client:
        login = client.post("/auth/login", json={"email": args.email, "password": DEMO_PASSWORD})
        login.raise_for_status()
        for label, params in QUERIES.items():
            if not params:
                from datetime import UTC, datetime, timedelta

                today = datetime.now(UTC).date()
                params = {"from": str(today - timedelta(days=30)),
                          "to": str(today + timedelta(days=1))}
            times = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                client.get("/turnaround", params=params).raise_for_status()
                times.append(time.perf_counter() - start)
            print(f"GET /turnaround ({label}): best {min(times) * 1000:.0f} ms, "
                  f"median {sorted(times)[len(times) // 2] * 1000:.0f} ms")
        everything = QUERIES["full range"]
        data = client.get("/turnaround", params=everything).json()
        start = time.perf_counter()
        raw = client.get("/turnaround.csv", params=everything).text
        took = time.perf_counter() - start
        print(f"GET /turnaround.csv: {len(raw) / 1e6:.0f} MB in {took:.1f} s")
    groups: dict[tuple[str, str], tuple[list[float], list[float]]] = defaultdict(lambda: ([], []))
    rows = 0
    for row in csv.DictReader(io.StringIO(raw)):
        rows += 1
        if row["seconds_to_answer"]:
            answers, targets = groups[(row["specialty"], row["urgency"])]
            answers.append(float(row["seconds_to_answer"]))
            targets.append(float(row["target_seconds_to_answer"]))
    mismatches = 0
    for group in data["groups"]:
        expected = summarise(*groups[(group["specialty"], group["urgency"])])
        same = (expected.count == group["answered"]
                and expected.median == group["median_seconds_to_answer"]
                and expected.p90 == group["p90_seconds_to_answer"]
                and expected.within_target_pct is not None
                and abs(expected.within_target_pct - group["within_target_pct"]) < 1e-9)
        if not same:
            mismatches += 1
            print("MISMATCH", json.dumps(group), expected)
    print(f"{rows} CSV rows; {len(data['groups'])} groups compared: {mismatches} mismatches")
    return 1 if mismatches else 0


if __name__ == "__main__":
    raise SystemExit(main())
