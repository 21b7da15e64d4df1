"""Run a simulation: both arms side by side (one process each, so the two cores are used),
each cycle's row printed as it lands, then the tables and the verdict in the treated warehouse.
"""

from __future__ import annotations

import multiprocessing
import queue
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from flywheel_pipeline.simulation.cycle import SimulationError, run_cycle
from flywheel_pipeline.simulation.kpis import CYCLE_COLUMNS, cycle_row
from flywheel_pipeline.simulation.plan import MARKER, TREATED, SimulationPlan
from flywheel_pipeline.warehouse import connect, replace_table

CYCLES_TABLE = "flywheel.simulation_cycles"
LIFT_TABLE = "flywheel.simulation_lift"


def prepare_arms(plan: SimulationPlan) -> None:
    """Start every arm from nothing. Only folders an earlier simulation created (they hold
    its marker file) are removed; any other existing folder stops the simulation."""
    for arm in plan.arms:
        home = plan.arm_home(arm)
        if home.exists():
            if not (home / MARKER).exists():
                raise SimulationError(
                    f"{home} exists and was not created by `flywheel simulate`; "
                    "choose another --home or remove it"
                )
            shutil.rmtree(home)
        home.mkdir(parents=True)
        (home / MARKER).write_text("created by flywheel simulate; removed when it runs again\n")


def run_arm(plan: SimulationPlan, arm: str, rows: multiprocessing.Queue) -> None:
    """Every cycle of one arm, in order; each cycle's row goes to ``rows``."""
    log_path = plan.arm_home(arm) / "logs" / "simulate.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with log_path.open("a", encoding="utf-8") as log:
            for cycle in range(plan.cycles + 1):
                started = time.monotonic()
                done = run_cycle(plan, arm, cycle, lambda line: print(line, file=log, flush=True))
                settings = plan.settings(arm, cycle)
                with connect(settings.duckdb_path, read_only=True) as conn:
                    row = cycle_row(
                        conn,
                        arm=arm,
                        cycle=cycle,
                        window=plan.window(cycle),
                        recommendations_done=len(done),
                    )
                rows.put(("row", {**row, "seconds": time.monotonic() - started}))
    except Exception as exc:  # reported by the parent, which stops the other arm
        rows.put(("error", f"{arm} arm: {type(exc).__name__}: {exc}"))
    finally:
        rows.put(("finished", arm))


def format_row(row: dict) -> str:
    models = " ".join(
        f"{row[c]:.3f}" if row.get(c) is not None else "  -  "
        for c in ("lead_scoring_auc", "deal_scoring_auc")
    )
    return (
        f"{row['arm']:<8}{row['cycle']:>3}  {row['data_through']}  {row['sessions']:>8,}"
        f"{row['leads']:>7,}{row['customers']:>7,}{row['revenue']:>12,.0f}"
        f"{row['conversations']:>7,}{row['recommendations_done']:>6}"
        f"{row['outcomes_measured']:>6}{row['outcomes_covering_planted']:>6}  {models}  "
        f"{row['phase'] or '-':<16}{row['seconds']:>6.0f}s"
    )


HEADER = (
    f"{'arm':<8}{'cyc':>3}  {'through':<10}  {'sessions':>8}{'leads':>7}{'custs':>7}"
    f"{'revenue':>12}{'convs':>7}{'done':>6}{'meas':>6}{'cover':>6}  lead  deal AUC  "
    f"{'phase':<16}{'took':>7}"
)


def run_simulation(plan: SimulationPlan, echo: Callable[[str], None]) -> pd.DataFrame:
    """Run every arm; returns the simulation_cycles frame (also written to the treated
    warehouse with the measured lift per action type)."""
    from flywheel_pipeline.dbt.project import ensure_manifest

    ensure_manifest()  # once, before the arms: they must not parse the project side by side
    prepare_arms(plan)
    context = multiprocessing.get_context("spawn")
    rows: multiprocessing.Queue = context.Queue()
    workers = [
        context.Process(target=run_arm, args=(plan, arm, rows), name=f"flywheel-{arm}")
        for arm in plan.arms
    ]
    for worker in workers:
        worker.start()
    echo(HEADER)
    collected: list[dict] = []
    running, error = len(workers), None
    try:
        while running:
            try:
                kind, payload = rows.get(timeout=5)
            except queue.Empty:
                if not any(w.is_alive() for w in workers):
                    error = error or "an arm's process died without a word (out of memory?)"
                    break
                continue
            if kind == "row":
                echo(format_row(payload))
                # wall-clock seconds are printed, not recorded: a rerun gives the same table
                collected.append({k: v for k, v in payload.items() if k != "seconds"})
            elif kind == "error":
                error = payload
                break
            else:
                running -= 1
    finally:
        for worker in workers:
            if error:
                worker.terminate()
            worker.join()
    if error:
        raise SimulationError(error)
    cycles = cycles_frame(collected)
    record(plan, cycles)
    return cycles


def cycles_frame(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=CYCLE_COLUMNS)
    frame["data_through"] = pd.to_datetime(frame["data_through"]).dt.date
    return frame.sort_values(["arm", "cycle"], ignore_index=True)


def record(plan: SimulationPlan, cycles: pd.DataFrame) -> Path:
    """Write the cycles and the lift per action type into the treated warehouse and rebuild
    its report (which then shows the Loop section)."""
    from flywheel_pipeline.evaluation.loop import lift_by_type, outcomes_against_planted
    from flywheel_pipeline.operations.report import REPORT_FILE, render_report

    settings = plan.settings(TREATED, plan.cycles)
    with connect(settings.duckdb_path) as conn:
        replace_table(conn, CYCLES_TABLE, cycles)
        replace_table(conn, LIFT_TABLE, lift_by_type(outcomes_against_planted(conn)))
        return render_report(conn, settings.reports_dir / REPORT_FILE)
