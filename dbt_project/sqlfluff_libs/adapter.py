"""Stand-in for dbt's `adapter` object (`adapter.dispatch(...)`), for linting only.

The project's dispatching macros (macros/cross_db.sql) call `adapter.dispatch(name,
'flywheel')`, which needs a live adapter. sqlfluff loads this module as `adapter`
(library_path in /.sqlfluff); `dispatch` returns a function rendering what the DuckDB
implementation would roughly render.
"""

_DUCKDB = {
    "iso_week_start": lambda expression: f"date_trunc('week', {expression})",
    "type_double": lambda: "double",
    "regex_matches": lambda value, pattern: f"regexp_matches({value}, {pattern})",
    "median": lambda expression: f"median({expression})",
}


def dispatch(macro_name, macro_namespace=None):
    return _DUCKDB[macro_name]
