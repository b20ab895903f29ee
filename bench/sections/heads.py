"""(j) Issue 28's target: saves/s with the audit log's Merkle tree and Ed25519-signed heads,
and without them, from one run.

In this process, on a fresh store each time, the generated history's cases are saved
one at a time (each save is one transaction of a case's events, as a command's is,
with every projection written inline). "On" is Reclaim's audit projection; "off" is the
same projection with the tree and the signature taken out (``ChainOnly``: the chain's
rows and a head row, no leaf hashes, no node rows, no Ed25519), so the ratio is what
the tree and the signed heads cost a save. The two alternate, round by round, each on a
store of its own. Not HTTP: the HTTP mix's figures (section c) carry this cost already.
"""

from __future__ import annotations

import time
from typing import Any

from bench.common import BenchPostgres, Options, SectionResult, say
from bench.history import cases
from bench.sections.http import fresh_store
from infrastructure.projections.audit import AuditLog, read_head
from infrastructure.projections.events import Batch
from infrastructure.store.application import ReclaimApplication
from infrastructure.store.database import Cursor

TITLE = "(j) The audit tree and signed heads: saves/s with them and without (issue 28)"
COMMAND = "python3 dev.py bench --sections heads"


class ChainOnly(AuditLog):
    """The audit projection without the tree and the signature: for comparison only."""

    def apply(self, cursor: Cursor, batch: Batch) -> None:
        payloads: list[str] = self.prepared(batch)
        head = read_head(cursor, self.head_table)
        previous = head["hash"] if head else "0" * 64
        count = head["events"] if head else 0
        rows = []
        for recorded, text in zip(batch.events, payloads, strict=True):
            row = self.row(recorded, batch.cases[recorded.case_id], previous, text)
            row["leaf"] = count
            count += 1
            rows.append(row)
            previous = row["hash"]
        self.table.write(cursor, rows)
        head_row = {
            "id": 1,
            "position": batch.last_position,
            "hash": previous,
            "events": count,
            "root": "",
            "frontier": "[]",
            "signed_at": batch.events[-1].recorded_at,
            "key_id": "",
            "signature": "",
        }
        self.head_table.write(cursor, [head_row], upsert=True)


def _saves_per_second(settings: Any, tree: bool, count: int, seed: int) -> float:
    app = ReclaimApplication(settings)
    try:
        if not tree:
            audit = app.projections.projections["audit"]
            app.projections.projections["audit"] = ChainOnly(audit.view, audit.context)
        made = list(cases(count, seed))
        started = time.perf_counter()
        for case in made:
            app.save(case)
        return count / (time.perf_counter() - started)
    finally:
        app.close()


def run(options: Options, context: dict[str, Any]) -> SectionResult:
    result = SectionResult("heads", TITLE, COMMAND)
    pg: BenchPostgres | None = context.get("pg")  # type: ignore[assignment]
    count = 60 if options.quick else 300
    rounds = 2 if options.quick else 4
    table = ["| store | round | tree and heads on, saves/s | off, saves/s | on/off |"]
    table.append("|---|---|---|---|---|")
    for store in options.stores:
        label = options.store_label(store)
        totals = {True: 0.0, False: 0.0}
        for round_ in range(rounds):
            order = (True, False) if round_ % 2 == 0 else (False, True)
            rates: dict[bool, float] = {}
            for tree in order:
                name = f"bench_heads_{store}_{round_}_{'on' if tree else 'off'}"
                settings = fresh_store(options, store, name, pg)
                try:
                    rates[tree] = _saves_per_second(settings, tree, count, seed=40 + round_)
                finally:
                    if settings.database_url and pg is not None:
                        pg.drop(name)
            totals[True] += rates[True]
            totals[False] += rates[False]
            table.append(
                f"| {label} | {round_ + 1} | {rates[True]:,.0f} | {rates[False]:,.0f} | "
                f"{rates[True] / rates[False]:.2f} |"
            )
            say(f"  {label} round {round_ + 1}: on {rates[True]:,.0f}/s, off {rates[False]:,.0f}/s")
        on, off = totals[True] / rounds, totals[False] / rounds
        result.add(
            f"{label}: saves/s, tree and heads off", off, "/s", note=f"{count} cases a round"
        )
        result.add(
            f"{label}: saves/s, tree and heads on", on, "/s", note=f"{rounds} rounds alternating"
        )
    result.detail.append("\n".join(table))
    return result
