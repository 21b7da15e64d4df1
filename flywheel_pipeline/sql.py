"""Quoting values and names into SQL text, in one place.

DuckDB cannot bind a parameter everywhere a value goes (ATTACH paths, SET values, COPY
targets, COMMENT texts), and names from file headers or the catalog may hold any character.
"""

from __future__ import annotations


def literal(value: object) -> str:
    """A SQL string literal of `value` (a path, a setting, a comment), whatever quotes it holds."""
    return "'" + str(value).replace("'", "''") + "'"


def identifier(name: str) -> str:
    """A quoted SQL identifier, whatever characters the name holds."""
    return '"' + str(name).replace('"', '""') + '"'


def relation_name(schema: str, table: str) -> str:
    """`"schema"."table"`, both parts quoted."""
    return f"{identifier(schema)}.{identifier(table)}"


#: The type money is summed in: exactly, so that a total does not depend on the order in which
#: DuckDB's threads add the rows (a float sum can differ in its last bits from run to run, and
#: a model fitted on it would not reproduce).
MONEY = "decimal(38, 10)"
