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
    # The DuckDB version sorts a list() with a lambda; the same shape for the linter.
    "ordered_string_agg": lambda expression, delimiter, order_by: (
        f"string_agg({expression}, {delimiter} order by {order_by})"
    ),
    "first_by": lambda expression, order_by: f"arg_min({expression}, {order_by})",
}


def dispatch(macro_name, macro_namespace=None):
    return _DUCKDB[macro_name]
