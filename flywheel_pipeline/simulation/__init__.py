"""`flywheel simulate`: the demo wheel turning in simulated time, beside a control arm.

Each arm is a whole Flywheel home (its own landing folder, warehouse and report) under the
simulation folder. Cycle 0 builds the demo business's history; every later cycle the simulator
produces the next ``cycle_days`` days of the same business, the pipeline ingests only the new
days and files, rebuilds, retrains and recommends, and in the treated arm the top K
recommendations are accepted and done at the cycle's simulated date. The world
(``sources/demo/world.py``) turns each done recommendation into the planted effect on its
targets from that date on. The control arm runs the same business, seed and cycles and does
nothing, so the arms differ only by the effects of what was done (the simulator shares every
random draw between them).

- :mod:`.plan` — the simulation's parameters and each arm's settings per cycle;
- :mod:`.cycle` — one cycle of one arm: run, accept, record what the world must apply;
- :mod:`.kpis` — the row a cycle adds to ``flywheel.simulation_cycles``;
- :mod:`.driver` — both arms side by side, the table as it runs, the tables and the verdict.
"""
