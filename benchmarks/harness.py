"""The benchmark driver: runs every implementation in its own hatch environment and reports.

    hatch run bench:run -- --rows 1000 10000 --db sqlite postgres   # measure, write JSON and RESULTS.md
    hatch run bench:smoke                                            # tiny, for CI: fails only on wrong deliveries
    hatch run bench:report [results/X.json ...]                      # RESULTS.md from stored results

Standard library only: Django runs in the workers (``worker.py``), one process per implementation
and database, each inside the hatch environment that installs that implementation.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import socket
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS_DIR = HERE / "results"
RESULTS_MD = HERE / "RESULTS.md"

IMPLS = (  # also the order of the columns
    "django",
    "ours",
    "ours-idle",
    "upstream",
    "pghistory",
    "django-by-hand",
    "django-listener",
    "ours-reads",
    "django-relist",
    "ours-floor",
)
ENVS = {
    "django": "bench-django",
    "ours": "bench-ours",
    "ours-idle": "bench-ours",
    "ours-reads": "bench-ours",
    "upstream": "bench-upstream",
    "pghistory": "bench-pghistory",
    "django-relist": "bench-django",
    "django-by-hand": "bench-django",
    "django-listener": "bench-django",
    "ours-floor": "bench-ours",
}
LABELS = {
    "django": "plain Django",
    "ours": "ours",
    "ours-idle": "ours, no receiver",
    "ours-reads": "ours, receiver reads every field (ratio to the next column)",
    "upstream": "django-bulk-tracker 0.2.1",
    "pghistory": "pghistory",
    "django-relist": "Django: update(), then list() of those rows",
    "django-by-hand": "Django by hand: locked read, update, read again",
    "django-listener": "Django with a post_delete receiver",
    "ours-floor": "the database alone: ours' statements sent again through the driver",
}
UPDATES = ("update_const", "update_f", "update_10pct", "update_noop")
APPLIES = {  # the variants measured only where they mean something
    "ours-reads": UPDATES,
    "django-relist": UPDATES,
    "django-by-hand": UPDATES,
    "django-listener": ("delete_cascade",),
    "ours-floor": (*UPDATES, "delete_cascade", "save_1000"),
}
DIVIDED_BY = {"ours-reads": "django-relist"}  # the ratio's denominator, plain Django's by default
DBS = ("sqlite", "postgres", "mariadb")
DB_LABELS = {"sqlite": "SQLite (file)", "postgres": "PostgreSQL", "mariadb": "MariaDB"}
PORTS = {"postgres": 5432, "mariadb": 3306}
ONLY_ON = {"pghistory": ("postgres",)}  # triggers written for PostgreSQL
# Send plain Django's own write statements (and more): not run where plain Django timed out.
SAME_STATEMENTS = ("ours-idle", "upstream", "pghistory")
SCENARIOS = (
    "update_const",
    "update_f",
    "update_10pct",
    "update_noop",
    "bulk_update",
    "bulk_create",
    "delete_cascade",
    "save_1000",
    "load_all",
)


# The targets for ours, as a ratio to plain Django's same operation (10,000 rows), per database.
def _everywhere(value: float) -> dict[str, float]:
    return dict.fromkeys(("sqlite", "postgres", "mariadb"), value)


_UPDATE_TARGET = {"sqlite": 4.0, "postgres": 2.5, "mariadb": 4.0}
TARGETS = {
    **dict.fromkeys(UPDATES, _UPDATE_TARGET),
    "bulk_update": {"sqlite": 1.1, "postgres": 0.3, "mariadb": 1.1},
    "bulk_create": _everywhere(1.1),
    "delete_cascade": _everywhere(2.0),
    "save_1000": _everywhere(1.2),
}
IDLE_TARGET = 1.05
READS_TARGET = 1.2  # ours-reads / django-relist
MEMORY_TARGETS = (  # (ours' scenario, the yardstick's implementation and scenario, target, at rows)
    ("update_const", "django", "load_all", 1.2, 100_000),
    ("delete_cascade", "django-listener", "delete_cascade", 1.5, 20_000),
)
PREFIX = "@@bench "  # worker.py's answers
MAX_ERRORS = 5
MEMORY_SLOWDOWN = 3  # about how much longer a run takes under tracemalloc


# --- running --------------------------------------------------------------------------------------


def reachable(db: str) -> bool:
    if db == "sqlite":
        return True
    host = os.environ.get("BENCH_DB_HOST", "127.0.0.1")
    try:
        with socket.create_connection((host, PORTS[db]), timeout=2):
            return True
    except OSError:
        return False


def hatch(*args: str) -> list[str]:
    return [sys.executable, "-m", "hatch", *args]


def install(env: str) -> str | None:
    """Create and sync a hatch environment: None when it works, else the end of what it said."""
    proc = subprocess.run(
        hatch("-e", env, "run", "python", "-c", "pass"), cwd=ROOT, capture_output=True, text=True, check=False
    )
    if proc.returncode == 0:
        return None
    return (proc.stdout + proc.stderr).strip()[-2000:]


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {"cores": os.cpu_count(), "platform": platform.platform()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["memory_gib"] = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    info.setdefault("cpu", platform.processor() or platform.machine())
    if hasattr(os, "getloadavg"):
        info["load_at_start"] = [round(x, 2) for x in os.getloadavg()]
    return info


def git_state() -> dict[str, Any]:
    def git(*args: str) -> str:
        proc = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return proc.stdout.strip()

    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "packages_changed": bool(git("status", "--porcelain", "packages")),
    }


def command_line(args: argparse.Namespace) -> str:
    parts = ["--rows", *map(str, args.rows), "--db", *args.db, "--impl", *args.impl]
    if args.scenarios:
        parts += ["--scenarios", *args.scenarios]
    parts += ["--repeats", str(args.repeats), "--budget", f"{args.budget:g}", "--timeout", f"{args.timeout:g}"]
    parts += ["--pg-jit", args.pg_jit]
    prefix = f"BENCH_DJANGO={os.environ['BENCH_DJANGO']} " if os.environ.get("BENCH_DJANGO") else ""
    return f"{prefix}hatch run bench:{args.command} -- {shlex.join(parts)}"


def default_out(args: argparse.Namespace) -> Path:
    name = "-".join(args.db) + "_" + "-".join(map(str, args.rows))
    if args.pg_jit != "default":
        name += f"_jit-{args.pg_jit}"
    if sorted(args.impl) != sorted(IMPLS):
        name += "_" + "-".join(args.impl)
    if args.scenarios:
        name += "_" + "-".join(args.scenarios)
    return RESULTS_DIR / f"{name}.json"


class Worker:
    """One implementation on one database: a ``worker.py`` process in that implementation's environment."""

    def __init__(self, impl: str, db: str, entry: dict[str, Any], args: argparse.Namespace) -> None:
        self.impl, self.db, self.entry = impl, db, entry
        command = ["python", "benchmarks/worker.py", "--impl", impl, "--db", db, "--timeout", str(args.timeout)]
        command += ["--pg-jit", args.pg_jit]
        self.proc = subprocess.Popen(
            hatch("-e", ENVS[impl], "run", *command), cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.alive = True

    def receive(self) -> dict[str, Any] | None:
        """The worker's next answer; what else it prints goes to our stderr. None: it died."""
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith(PREFIX):
                return json.loads(line[len(PREFIX) :])
            sys.stderr.write(line)
        self.alive = False
        return None

    def start(self) -> bool:
        hello = self.receive()
        if hello is None:
            self.entry.update(status="crashed", detail=f"the worker exited with {self.proc.wait()} while starting")
            return False
        self.entry.update(status="ran", versions=hello["versions"], server=hello["server"])
        self.titles = hello["scenarios"]
        return True

    def ask(self, command: dict[str, Any]) -> dict[str, Any]:
        if self.alive:
            assert self.proc.stdin is not None
            try:
                self.proc.stdin.write(json.dumps(command) + "\n")
                self.proc.stdin.flush()
            except BrokenPipeError:
                self.alive = False
        answer = self.receive() if self.alive else None
        if answer is None:
            self.entry["status"] = "crashed"
            return {"status": "error", "errors": [f"the worker died (exit {self.proc.wait()}), see its output above"]}
        return answer

    def stop(self) -> None:
        if self.alive:
            answer = self.ask({"op": "quit"})
            self.entry["notes"] = answer.get("notes", [])
        self.proc.wait()


def measure_case(workers: dict[str, Worker], scenario: str, rows: int, args: argparse.Namespace) -> list[str]:
    """One scenario at one size for every implementation, interleaved run by run.

    Round r runs each implementation once, plain Django first in the first round and the order
    rotating after, so a machine that gets busier meanwhile slows every implementation alike. Then
    one untimed run under tracemalloc each, unless that would take more than the budget.
    """
    impls = [impl for impl in workers if scenario in APPLIES.get(impl, SCENARIOS)]
    state = {impl: {"times": [], "answers": [], "status": "ok", "done": False} for impl in impls}
    for round_ in range(args.repeats):
        order = impls[round_ % len(impls) :] + impls[: round_ % len(impls)] if impls else []
        for impl in order:
            case = state[impl]
            if case["done"]:
                continue
            plain = state.get("django")
            if impl in SAME_STATEMENTS and plain is not None and plain["status"] == "timeout":
                case.update(status="skipped", done=True)
                continue
            answer = workers[impl].ask({"op": "run", "scenario": scenario, "rows": rows})
            case["answers"].append(answer)
            if answer["status"] != "ok":
                case.update(status=answer["status"], done=True, elapsed=answer.get("elapsed"))
                case["errors"] = answer.get("errors", [])
                continue
            case["times"].append(answer["seconds"])
            if sum(case["times"]) > args.budget:
                case["done"] = True
    for impl in impls:
        case = state[impl]
        if case["status"] == "ok" and MEMORY_SLOWDOWN * statistics.median(case["times"]) <= args.budget:
            answer = workers[impl].ask({"op": "run", "scenario": scenario, "rows": rows, "memory": True})
            if answer["status"] in ("failed", "error"):
                case.update(status=answer["status"], errors=answer.get("errors", []))
            case["answers"].append(answer)  # a timeout here leaves the timed runs standing, without memory
    failures = []
    for impl in impls:
        worker, case = workers[impl], state[impl]
        title, reference = worker.titles[scenario]
        record: dict[str, Any] = {"scenario": scenario, "title": title, "rows": rows, "reference": reference}
        record["status"] = case["status"]
        answered = [a for a in case["answers"] if "statements" in a]
        if case["times"]:
            times = case["times"]
            record.update(times=times, repeats=len(times), median=statistics.median(times), min=min(times))
        if answered:
            counts = {a["statements"] for a in answered}
            record.update(statements=max(counts), statements_vary=len(counts) > 1, sql_digest=answered[0]["digest"])
        record["peak_bytes"] = next((a["peak"] for a in case["answers"] if a.get("peak") is not None), None)
        if case["status"] == "timeout":
            record.update(timeout=args.timeout, elapsed=case["elapsed"])
        if case["status"] == "skipped":
            record["reason"] = "plain Django timed out, and this sends the same statement"
        if case["status"] in ("failed", "error"):
            record["errors"] = case["errors"][: MAX_ERRORS + 1]
            first = record["errors"][0].strip().splitlines()[-1]
            failures.append(f"{impl} on {worker.db}, {scenario} at {rows:,} rows: {first}")
        worker.entry["results"].append(record)
        line = f"  {impl:<9} {worker.db:<8} {rows:>7} {scenario:<15} {record['status']:<7}"
        if "median" in record:
            line += f" median {record['median']:.4f} s x{record['repeats']}, {record['statements']} statements"
        print(line, flush=True)
        for error in record.get("errors", []):
            print(f"    !! {error}", flush=True)
    return failures


def run(args: argparse.Namespace) -> int:
    smoke = args.command == "smoke"
    missing = [db for db in args.db if not reachable(db)]
    if missing and not smoke:
        print(f"NOT RUN: no database server answers for {', '.join(missing)} (see benchmarks/README.md)")
        return 2
    if smoke and missing:
        print(f"smoke: skipping {', '.join(missing)}: no server answers")
        args.db = [db for db in args.db if db not in missing]
    started = time.time()
    doc: dict[str, Any] = {
        "schema": 1,
        "kind": args.command,
        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": command_line(args),
        "options": {k: v for k, v in vars(args).items() if k not in ("command", "out", "no_report")},
        "machine": machine(),
        "git": git_state(),
        "runs": [],
    }
    broken_envs: dict[str, str] = {}
    for env in dict.fromkeys(ENVS[impl] for impl in args.impl):
        print(f"== environment {env}", flush=True)
        problem = install(env)
        if problem:
            broken_envs[env] = problem
            print(f"   does not install:\n{problem}", flush=True)
    failures: list[str] = []
    for db in args.db:
        impls = [i for i in IMPLS if i in args.impl and db in ONLY_ON.get(i, DBS)]
        workers: dict[str, Worker] = {}
        for impl in impls:
            entry: dict[str, Any] = {"impl": impl, "db": db, "env": ENVS[impl], "results": []}
            doc["runs"].append(entry)
            if ENVS[impl] in broken_envs:
                entry.update(status="not installable", detail=broken_envs[ENVS[impl]])
                if impl in ("django", "ours", "ours-idle"):
                    failures.append(f"{impl} on {db}: the environment {ENVS[impl]} does not install")
                continue
            print(f"== {impl} on {db}: setting up", flush=True)
            worker = Worker(impl, db, entry, args)
            if worker.start():
                workers[impl] = worker
            else:
                failures.append(f"{impl} on {db}: the worker did not start, see its output above")
        for rows in args.rows:
            for scenario in args.scenarios or SCENARIOS:
                failures += measure_case(workers, scenario, rows, args)
        for worker in workers.values():
            worker.stop()
    doc["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    doc["duration_s"] = round(time.time() - started, 1)
    doc["failures"] = failures
    out_path = Path(args.out) if args.out else (HERE / ".data" / "smoke.json" if smoke else default_out(args))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(doc, indent=1) + "\n")
    print()
    if smoke:
        print("Smoke test: the checks are what counts here; timings of this size and repeat mean nothing.\n")
    print(render_run(doc, details=not smoke))
    print(f"results: {out_path.relative_to(ROOT) if out_path.is_relative_to(ROOT) else out_path}")
    if not smoke and not args.no_report:
        write_report(sorted(RESULTS_DIR.glob("*.json")))
    return shout(failures, doc)


def shout(failures: list[str], doc: dict[str, Any]) -> int:
    measured = sum(len(r.get("results", [])) for r in doc["runs"])
    skipped = [f"{r['impl']} on {r['db']}" for r in doc["runs"] if r["status"] == "not installable"]
    if skipped:
        print(f"not installable, so not measured: {', '.join(skipped)}")
    if failures:
        bar = "!" * 100
        print(f"\n{bar}\nWRONG DELIVERIES: {len(failures)} run(s) did not deliver what they should:")
        for failure in failures:
            print(f"  - {failure}")
        print(bar)
        return 1
    print(f"DELIVERIES OK: all {measured} measured operations delivered exactly the expected objects.")
    return 0


# --- reporting ------------------------------------------------------------------------------------


def fmt_seconds(value: float) -> str:
    if value >= 10:
        return f"{value:.1f} s"
    if value >= 1:
        return f"{value:.2f} s"
    if value >= 0.01:
        return f"{value * 1000:.0f} ms"
    return f"{value * 1000:.2f} ms"


def fmt_bytes(value: int | None) -> str:
    if value is None:
        return "-"
    if value >= 1024 * 1024:
        return f"{value / 1024 / 1024:.1f} MiB"
    return f"{value / 1024:.0f} KiB"


def fmt_ratio(value: float) -> str:
    return f"{value:.2f}x" if value < 10 else f"{value:.1f}x"


def index(doc: dict[str, Any]) -> dict[tuple[str, str, int, str], dict[str, Any]]:
    found = {}
    for entry in doc["runs"]:
        for record in entry.get("results", []):
            found[entry["db"], entry["impl"], record["rows"], record["scenario"]] = record
    return found


def ratio(records: dict[tuple[str, str, int, str], dict[str, Any]], key: tuple[str, str, int, str]) -> str:
    record = records.get(key)
    floor = records.get((key[0], DIVIDED_BY.get(key[1], "django"), key[2], key[3]))
    if record is None or floor is None:
        return ""
    if "median" in record and "median" in floor:
        return fmt_ratio(record["median"] / floor["median"])
    if "median" in record and floor["status"] == "timeout":
        return f"< {fmt_ratio(record['median'] / floor['elapsed'])}"
    if record["status"] == "timeout" and "median" in floor:
        return f"> {fmt_ratio(record['elapsed'] / floor['median'])}"
    return ""


def cell(records: dict[tuple[str, str, int, str], dict[str, Any]], key: tuple[str, str, int, str]) -> str:
    record = records.get(key)
    if record is None:
        return "-"
    if record["status"] in ("failed", "error"):
        return f"**{record['status'].upper()}**"
    if record["status"] == "timeout":
        text = f"> {fmt_seconds(record['elapsed'])}"
        return text if key[1] == "django" or not ratio(records, key) else f"{text} ({ratio(records, key)})"
    if record["status"] == "skipped":
        return "not run: >= plain Django"
    if key[1] == "django":
        return fmt_seconds(record["median"])
    return ratio(records, key)


def memory_lines(records: dict[tuple[str, str, int, str], dict[str, Any]], db: str, size: int) -> list[str]:
    """Peak Python memory of ours against its yardstick, where both were measured at this size."""
    lines = []
    for scenario, yardstick, its_scenario, target, at in MEMORY_TARGETS:
        ours = records.get((db, "ours", size, scenario), {}).get("peak_bytes")
        other = records.get((db, yardstick, size, its_scenario), {}).get("peak_bytes")
        if ours and other:
            line = (
                f"- peak memory, `{scenario}`: ours {fmt_bytes(ours)}, {LABELS[yardstick]} (`{its_scenario}`) "
                f"{fmt_bytes(other)}: {fmt_ratio(ours / other)} (target <= {target:g}x at {at:,} rows)"
            )
            floor = records.get((db, "ours-floor", size, scenario), {}).get("peak_bytes")
            if floor:
                line += (
                    f"; the database alone (ours' statements, every row fetched) {fmt_bytes(floor)}, "
                    f"{fmt_ratio(floor / other)} the yardstick; ours / the database alone {fmt_ratio(ours / floor)}"
                )
            lines.append(line)
    return ["", *lines] if lines else []


def titles(doc: dict[str, Any]) -> dict[str, str]:
    found = {}
    for entry in doc["runs"]:
        for record in entry.get("results", []):
            found[record["scenario"]] = record["title"]
    return found


def layout(doc: dict[str, Any]) -> tuple[list[str], list[int], list[str]]:
    dbs = [db for db in DBS if any(e["db"] == db for e in doc["runs"])]
    rows = sorted({r["rows"] for e in doc["runs"] for r in e.get("results", [])})
    impls = [impl for impl in IMPLS if any(e["impl"] == impl for e in doc["runs"])]
    return dbs, rows, impls


def render_run(doc: dict[str, Any], details: bool = True) -> str:
    """The summary tables (ratios) and, with details, every measured number."""
    records = index(doc)
    names = titles(doc)
    dbs, sizes, impls = layout(doc)
    out: list[str] = []
    repeats = doc["options"]["repeats"]
    out.append(
        f"Time of each operation, commit and delivery included: plain Django's median of {repeats}, and every "
        "other implementation as a ratio of its median to plain Django's (lower is better)."
    )
    for db in dbs:
        here = [impl for impl in impls if (db, impl) in {(e["db"], e["impl"]) for e in doc["runs"]}]
        for size in sizes:
            if not any(k[0] == db and k[2] == size for k in records):
                continue
            out.append(f"\n#### {DB_LABELS[db]}, {size:,} rows\n")
            header = ["scenario", *(LABELS[i] for i in here)]
            if "ours" in here:
                header.append("target for ours")
            if "ours-floor" in here:
                header.append("ours / the database alone")
                if "ours-reads" in here:
                    header.append("ours, receiver reads every field / the database alone")
            out.append("| " + " | ".join(header) + " |")
            out.append("|" + "---|" * len(header))
            for scenario in SCENARIOS:
                if not any((db, i, size, scenario) in records for i in here):
                    continue
                line = [names.get(scenario, scenario), *(cell(records, (db, i, size, scenario)) for i in here)]
                if "ours" in here:
                    target = TARGETS.get(scenario, {}).get(db)
                    line.append(f"<= {target:g}x" if target else "")
                if "ours-floor" in here:
                    floor = records.get((db, "ours-floor", size, scenario), {}).get("median")
                    for impl in ("ours", "ours-reads") if "ours-reads" in here else ("ours",):
                        ours = records.get((db, impl, size, scenario), {}).get("median")
                        line.append(fmt_ratio(ours / floor) if ours and floor else "")
                out.append("| " + " | ".join(line) + " |")
            if "ours-idle" in here:
                out.append(f"\n`ours, no receiver` target: <= {IDLE_TARGET}x and the same SQL as plain Django.")
            if "ours-reads" in here:
                out.append(
                    f"`ours, receiver reads every field` target: <= {READS_TARGET}x Django's update() followed "
                    "by list() of those rows."
                )
            out += memory_lines(records, db, size)
    if details:
        out.append("\n### Every number\n")
        out.append(
            "| database | rows | scenario | implementation | median | min | runs | statements | same SQL as Django "
            "| peak Python memory | ratio | deliveries |"
        )
        out.append("|" + "---|" * 12)
        for db in dbs:
            for size in sizes:
                for scenario in SCENARIOS:
                    for impl in impls:
                        record = records.get((db, impl, size, scenario))
                        if record is None:
                            continue
                        floor = records.get((db, "django", size, scenario), {})
                        same = ""
                        if impl != "django" and record.get("sql_digest") and floor.get("sql_digest"):
                            same = "yes" if record["sql_digest"] == floor["sql_digest"] else "no"
                        status = {
                            "ok": "ok",
                            "timeout": f"cancelled after {fmt_seconds(record.get('elapsed', 0))}",
                            "skipped": f"not run: {record.get('reason')}",
                        }.get(
                            record["status"],
                            f"**{record['status'].upper()}**: "
                            + "; ".join(e.strip().splitlines()[-1] for e in record.get("errors", [])[:2]).replace(
                                "|", "\\|"
                            ),
                        )
                        stmts = record.get("statements", "-")
                        if record.get("statements_vary"):
                            stmts = f"{stmts} (varies)"
                        out.append(
                            "| "
                            + " | ".join(
                                [
                                    DB_LABELS[db],
                                    f"{size:,}",
                                    scenario,
                                    impl,
                                    fmt_seconds(record["median"]) if "median" in record else "-",
                                    fmt_seconds(record["min"]) if "min" in record else "-",
                                    str(record.get("repeats", 0)),
                                    str(stmts),
                                    same,
                                    fmt_bytes(record.get("peak_bytes")),
                                    ratio(records, (db, impl, size, scenario)) if impl != "django" else "1",
                                    status,
                                ]
                            )
                            + " |"
                        )
    for entry in doc["runs"]:
        for note in entry.get("notes", []):
            out.append(f"\nNote, {entry['impl']} on {DB_LABELS[entry['db']]}: {note}.")
    not_run = [e for e in doc["runs"] if e["status"] != "ran"]
    for entry in not_run:
        out.append(f"\n**{entry['impl']} on {entry['db']}: {entry['status']}.** {entry.get('detail', '')[:300]}")
    return "\n".join(out)


def versions_block(doc: dict[str, Any]) -> list[str]:
    lines = []
    machine_info = doc["machine"]
    lines.append(
        f"- machine: {machine_info.get('cpu', '?')}, {machine_info.get('cores', '?')} cores, "
        f"{machine_info.get('memory_gib', '?')} GiB memory, {machine_info.get('platform', '?')}"
        + (f", load average at start {machine_info['load_at_start']}" if machine_info.get("load_at_start") else "")
    )
    ran = [e for e in doc["runs"] if e["status"] == "ran"]
    pythons = sorted({e["versions"].get("Python", "?") for e in ran})
    djangos = sorted({e["versions"].get("Django", "?") for e in ran})
    lines.append(f"- Python {', '.join(pythons)}; Django {', '.join(djangos)} in every environment")
    packages: dict[str, str] = {}
    for entry in ran:
        for name, version in entry["versions"].items():
            if name not in ("Python", "Django"):
                packages[name] = version
    git = doc.get("git", {})
    ours = packages.pop("bulk-tracker-django", None)
    if ours:
        changed = " with uncommitted changes in packages/" if git.get("packages_changed") else ""
        core = packages.pop("bulk-tracker-core", "?")
        commit = git.get("commit")
        where = f"from this workspace at {commit}{changed}"
        lines.append(f"- ours: bulk-tracker-django {ours} + bulk-tracker-core {core} {where}")
    if packages:
        lines.append("- packages: " + ", ".join(f"{k} {v}" for k, v in sorted(packages.items())))
    servers: dict[str, str] = {}
    for entry in ran:
        server = entry.get("server", {})
        text = server.get("server", "?")
        if entry["db"] == "postgres":
            text += f" (jit = {server.get('jit')})"
        if entry["db"] == "sqlite":
            text += f" (journal_mode = {server.get('journal_mode')}, synchronous = {server.get('synchronous')})"
        servers[entry["db"]] = text
    lines.append("- databases: " + "; ".join(servers[db] for db in DBS if db in servers))
    opts = doc["options"]
    lines.append(
        f"- {opts['repeats']} repeats on fresh data, fewer once a case's timed runs have taken {opts['budget']:g} s; "
        + (f"statements cut off after {opts['timeout']:g} s" if opts.get("timeout") else "no statement timeout")
        + f"; the whole run took {doc.get('duration_s', 0) / 60:.1f} min"
    )
    return lines


def write_report(files: list[Path]) -> None:
    docs = []
    for path in files:
        doc = json.loads(path.read_text())
        if doc.get("kind") == "run":
            docs.append((path, doc))
    docs.sort(key=lambda item: item[1]["started_at"], reverse=True)  # the newest run first
    out = [
        "# Benchmark results",
        "",
        "Generated by `hatch run bench:report` from `benchmarks/results/*.json` (each written by "
        "`hatch run bench:run`), the newest run first; how to read it: [README.md](README.md). Do not edit by hand.",
    ]
    for path, doc in docs:
        dbs, sizes, _ = layout(doc)
        opts = doc["options"]
        extra = [f"jit {opts['pg_jit']}"] if opts.get("pg_jit", "default") != "default" else []
        if opts.get("scenarios"):
            extra.append(", ".join(opts["scenarios"]))
        if sorted(opts.get("impl", IMPLS)) != sorted(IMPLS):
            extra.append(", ".join(opts["impl"]))
        heading = f"{', '.join(DB_LABELS[d] for d in dbs)}; {', '.join(f'{s:,}' for s in sizes)} rows"
        out.append(f"\n## {heading}{''.join(f'; {e}' for e in extra)} ({doc['started_at'][:10]})\n")
        out.append(f"- reproduce: `{doc['command']}`")
        out.append(f"- results: [`{path.relative_to(HERE)}`]({path.relative_to(HERE)})")
        out += versions_block(doc)
        if doc.get("failures"):
            out.append("\n**WRONG DELIVERIES in this run:**\n")
            out += [f"- {failure}" for failure in doc["failures"]]
        else:
            measured = sum(len(r.get("results", [])) for r in doc["runs"])
            out.append(f"- deliveries: all {measured} measured cases delivered exactly the expected objects")
        out.append("")
        out.append(render_run(doc))
    RESULTS_MD.write_text("\n".join(out) + "\n")
    print(f"wrote {RESULTS_MD.relative_to(ROOT)} from {len(docs)} result file(s)")


# --- command line ---------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("run", "smoke"):
        sub = commands.add_parser(name)
        smoke = name == "smoke"
        sub.add_argument("--rows", type=int, nargs="+", default=[50] if smoke else [1000, 10000])
        sub.add_argument(
            "--db",
            nargs="+",
            choices=DBS,
            default=list(DBS) if smoke else ["sqlite", "postgres"],
            help="smoke: the servers that answer",
        )
        sub.add_argument("--impl", nargs="+", choices=IMPLS, default=list(IMPLS))
        sub.add_argument("--scenarios", nargs="+", choices=SCENARIOS)
        sub.add_argument("--repeats", type=int, default=1 if smoke else 5)
        sub.add_argument(
            "--budget",
            type=float,
            default=10.0,
            help="seconds: no further repeats of a case once its timed runs have taken this, and no memory run "
            "when it would take longer",
        )
        sub.add_argument(
            "--timeout",
            type=float,
            default=30.0,
            help="seconds: cancel a statement that runs longer (PostgreSQL, MariaDB); 0 for none",
        )
        sub.add_argument(
            "--pg-jit",
            choices=("default", "on", "off"),
            default="default",
            help="PostgreSQL's jit; default: the server's",
        )
        sub.add_argument("--out", help="the results JSON (default: results/<dbs>_<rows>.json)")
        sub.add_argument("--no-report", action="store_true", help="do not regenerate RESULTS.md")
    report = commands.add_parser("report")
    report.add_argument("files", nargs="*", type=Path)
    args = parser.parse_args()
    if args.command == "report":
        write_report(args.files or sorted(RESULTS_DIR.glob("*.json")))
        return 0
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
