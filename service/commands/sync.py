"""``etmi-fhir sync status|replay|push|pull|resolve``: operate the EHR sync.

Targets come from ``--targets FILE`` (TOML/JSON, see ``service/sync/targets.py``) or the settings
(``ETMI_SYNC_TARGETS``); the database from ``--database-url`` or ``ETMI_DATABASE_URL``; cursors and
the conflict log in the database (``store.sync_state``), or in ``--state FILE`` / ``ETMI_SYNC_STATE_FILE``.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from typing import Any

from service import compose
from service.compose import SyncRuntime
from service.config import Settings
from service.sync.chunking import ChunkSizes
from service.sync.push import PushReport

HELP = "EHR sync: status, replay dead letters, push/pull once, resolve held conflicts"


def add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--targets", help="targets file (TOML or JSON); default: ETMI_SYNC_TARGETS")
    parser.add_argument("--database-url", help="SQLAlchemy URL; default: ETMI_DATABASE_URL")
    parser.add_argument("--state", help="sync state file (cursors, conflicts); default: the database")


def runtime(args: argparse.Namespace, need_targets: bool = True) -> SyncRuntime:
    """Store, targets and sync state as ``service.compose`` assembles them for every process."""
    settings = Settings.from_env()
    chosen = compose.targets(settings, args.targets)
    if need_targets and not chosen:
        raise SystemExit("no EHR target configured: pass --targets FILE or set ETMI_SYNC_TARGETS")
    return compose.sync_runtime(settings, chosen, args.database_url, args.state)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    status = sub.add_parser("status", help="outbox counts, dead letters, conflicts, learned transaction sizes")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.add_argument("--limit", type=int, default=20)
    replay = sub.add_parser("replay", help="queue failed/dead entries again")
    replay.add_argument("ids", nargs="*", type=int, help="outbox entry ids")
    replay.add_argument("--all-dead", action="store_true", help="every dead-lettered entry")
    replay.add_argument("--target", help="with --all-dead: only the entries for this target")
    push = sub.add_parser("push", help="push due outbox entries until none is left (or --rounds)")
    push.add_argument("--rounds", type=int, default=100)
    push.add_argument("--batch-size", type=int)
    sub.add_parser("pull", help="poll the targets once for CarePlan/Goal edits")
    resolve = sub.add_parser("resolve", help="mark a held conflict decided by a clinician")
    resolve.add_argument("target")
    resolve.add_argument("resource_type")
    resolve.add_argument("local_id")
    resolve.add_argument("--keep", choices=["service", "ehr"], required=True)
    for p in (status, replay, push, sub.choices["pull"], resolve):
        add_common(p)


def _entries(store: Any, status: str, limit: int) -> list[dict[str, Any]]:
    """Entries of one status for operators (``target`` None: every configured target)."""
    return [{"id": e.id, "patient_key": e.patient_key, "target": e.target, "resource_type": e.resource_type,
             "attempts": e.attempts, "error": e.last_error, "outcome": e.outcome}
            for e in store.outbox.list(status, limit)]


def _status(rt: SyncRuntime, args: argparse.Namespace) -> int:
    from service.store.outbox import by_target_label

    counts = rt.store.outbox.counts()
    by_target = by_target_label(rt.store.outbox.counts_by_target())
    report: dict[str, Any] = {
        "outbox": counts,
        "by_target": by_target,
        "pending": _entries(rt.store, "pending", args.limit),
        "in-flight": _entries(rt.store, "in-flight", args.limit),
        "failed": _entries(rt.store, "failed", args.limit),
        "dead": _entries(rt.store, "dead", args.limit),
        "conflicts_held": [_conflict(c) for c in rt.state.list_conflicts("held")],
        "targets": [t.name for t in rt.targets],
        "transaction_sizes": _sizes(rt),
    }
    if args.json:
        print(json.dumps(report, indent=1, default=str))
        return 0
    print("outbox: " + _counts(counts))
    every = f"every target ({', '.join(report['targets']) or 'none configured'})"  # rows of target None
    for target, per_status in by_target.items():
        print(f"  {every if target == '*' else 'target ' + target}: {_counts(per_status)}")
    for name, size in report["transaction_sizes"].items():
        print(f"  target {name}: {_size_line(size)}")
    for kind in ("pending", "in-flight", "failed", "dead"):
        for e in report[kind]:
            print(f"  {kind:9} #{e['id']} target={e['target'] or ','.join(report['targets']) or '*'} "
                  f"patient={e['patient_key']} "
                  f"{e['resource_type']} attempts={e['attempts']} {_why(e)}".rstrip())
    for c in report["conflicts_held"]:
        where = f"{c['target']} {c['resource_type']}/{c['local_id']} (EHR id {c['remote_id']})"
        print(f"  held      {where}: {c['policy']}")
    return 0


def _sizes(rt: SyncRuntime) -> dict[str, dict[str, Any]]:
    """Per target: the transaction size pushes use (learned from the target's refusals, in the sync state)."""
    sizes = ChunkSizes(rt.state)
    out: dict[str, dict[str, Any]] = {}
    for t in rt.targets:
        learned = sizes.learned(t.name)
        out[t.name] = {"mode": t.mode, "configured_max_entries": t.max_entries,
                       "max_entries": sizes.max_entries(t), "learned": asdict(learned) if learned else None}
    return out


def _size_line(size: dict[str, Any]) -> str:
    if size["mode"] != "transaction":
        return f"{size['mode']} mode (no transactions)"
    learned = size["learned"]
    if not learned:
        return f"transactions of up to {size['max_entries']} entries (configured; none refused so far)"
    return (f"transactions of up to {size['max_entries']} entries, learned {learned['at']} (refused "
            f"{learned['refused']} with HTTP {learned['status']}; configured {size['configured_max_entries']})")


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(counts.items())) or "empty"


def _why(entry: dict[str, Any]) -> str:
    outcome = entry.get("outcome") or {}
    texts = [str(i.get("diagnostics") or "") for i in outcome.get("issue", [])] if isinstance(outcome, dict) else []
    return "; ".join(t for t in texts if t)[:200] or (entry.get("error") or "")[:200]


def _conflict(c: Any) -> dict[str, Any]:
    row = asdict(c)
    row.pop("local", None)
    row.pop("remote", None)
    return row


def _replay(rt: SyncRuntime, args: argparse.Namespace) -> int:
    ids = list(args.ids)
    if args.target and not args.all_dead:
        print("--target selects among --all-dead", file=sys.stderr)
        return 2
    if args.all_dead:
        ids += [e["id"] for e in _entries(rt.store, "dead", 100000) if args.target in (None, e["target"])]
    if not ids:
        print("nothing to replay: give entry ids or --all-dead", file=sys.stderr)
        return 2
    print(f"requeued {rt.store.outbox.replay(ids)} of {len(ids)} entries")
    return 0


def _push(rt: SyncRuntime, args: argparse.Namespace) -> int:
    pusher, total = rt.pusher(), PushReport()
    for _ in range(args.rounds):
        report = pusher.run_once(args.batch_size)
        total.add(report)
        if report.claimed == 0:
            break
    print(f"claimed={total.claimed} sent={total.sent} retried={total.retried} dead={total.dead} "
          f"held={total.held} conflicts={total.conflicts} lost_leases={total.lost_leases}")
    return 0 if total.dead == 0 else 1


def _resolve(rt: SyncRuntime, args: argparse.Namespace) -> int:
    """A clinician decided a held conflict: adopt the EHR's current version as the base of the next write
    (keep service: replay the dead letter to overwrite; keep ehr: the EHR's version goes to the store)."""
    clients = {t.name: (t, c) for t, c in rt.clients()}
    if args.target not in clients:
        raise SystemExit(f"unknown target {args.target!r}")
    known = rt.store.id_map.get(args.target, args.resource_type, args.local_id)
    if known is None:
        raise SystemExit(f"{args.resource_type}/{args.local_id} was never written to {args.target}")
    remote = clients[args.target][1].read(args.resource_type, known[0]).body or {}
    version = remote.get("meta", {}).get("versionId")
    if args.keep == "ehr":
        rt.state.apply_remote(args.target, args.local_id, remote)
    rt.store.id_map.put(args.target, args.resource_type, args.local_id, known[0], version)
    resolver = getattr(rt.state, "resolve_conflicts", None)
    changed = resolver(args.target, args.resource_type, args.local_id, f"clinician kept {args.keep}") if resolver else 0
    hint = ("now replay the dead-lettered entry: it overwrites the EHR version" if args.keep == "service"
            else "the EHR version was handed to the local store; do not replay the entry")
    print(f"resolved {changed} held conflict(s) of {args.resource_type}/{args.local_id}; {hint}")
    return 0


def run(args: argparse.Namespace) -> int:
    rt = runtime(args, need_targets=args.action in ("push", "pull"))
    try:
        if args.action == "status":
            return _status(rt, args)
        if args.action == "replay":
            return _replay(rt, args)
        if args.action == "push":
            return _push(rt, args)
        if args.action == "pull":
            report = rt.puller().run_once()
            print(json.dumps(asdict(report)))
            return 0
        return _resolve(rt, args)
    finally:
        rt.store.close()
