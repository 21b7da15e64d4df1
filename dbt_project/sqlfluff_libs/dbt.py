"""Stand-ins for dbt's cross-database macros (`dbt.<name>(...)`), for linting only.

sqlfluff's jinja templater renders the models without a database or dbt itself; it loads
this module as `dbt` (library_path in /.sqlfluff), so each function returns what the
DuckDB adapter would roughly render.
"""


def type_string():
    return "varchar"


def type_timestamp():
    return "timestamp"


def type_float():
    return "double"


def type_numeric():
    return "numeric(28, 6)"


def type_bigint():
    return "bigint"


def type_int():
    return "integer"


def type_boolean():
    return "boolean"


def safe_cast(field, type_):
    return f"try_cast({field} as {type_})"


def date_trunc(datepart, date):
    return f"date_trunc('{datepart}', {date})"


def datediff(first_date, second_date, datepart):
    return f"date_diff('{datepart}', {first_date}, {second_date})"


def dateadd(datepart, interval, from_date_or_timestamp):
    return f"({from_date_or_timestamp} + cast({interval} as bigint) * interval 1 {datepart})"


def listagg(measure, delimiter_text="','", order_by_clause=None, limit_num=None):
    order = f" {order_by_clause}" if order_by_clause else ""
    return f"string_agg({measure}, {delimiter_text}{order})"


def concat(fields):
    return " || ".join(fields)


def hash(field):
    return f"md5(cast({field} as varchar))"


def bool_or(expression):
    return f"bool_or({expression})"


def any_value(expression):
    return f"any_value({expression})"


def current_timestamp():
    return "now()"


def split_part(string_text, delimiter_text, part_number):
    return f"split_part({string_text}, {delimiter_text}, {part_number})"


def generate_series(upper_bound):
    return f"select generate_series as generated_number from generate_series(1, {upper_bound})"


def last_day(date, datepart):
    return f"last_day({date})"
