"""Column mappings: how a tool's export becomes the rows of a raw table.

A folder of CRM or ad-spend drops (`landing/crm/<table>/`) may hold a `mapping.yaml` that
says how to read its files:

    preset: hubspot            # hubspot | salesforce | shopify | none (no recognising)
    columns:                   # our column: the file's column (or a list: the first present)
      contact_id: Record ID
      created_at: Create Date
    timezone: Europe/Berlin    # times without an offset (wins over FLYWHEEL_TIMEZONE)
    datetime_format: "%m/%d/%Y %I:%M %p"   # or a list; for values without an offset
    delimiter: ";"             # , ; tab | (detected from the header when unambiguous)
    encoding: cp1252           # UTF-8 with or without a byte-order mark needs none
    won_stages: [closedwon]    # deals: the stage values that mean won (is_won = true) …
    lost_stages: [closedlost]  # … and lost (false); a deal in another stage is open
    closed_column: IsClosed    # deals: a true/false column saying whether a deal is closed
    fold_line_items: true      # orders: consecutive rows of one order_id fold into one
    line_item_columns: "Lineitem "  # orders: prefix of per-item columns, dropped by folding

Built-in presets (`presets/<tool>.yaml`, one entry per kind of export) give the columns and
rules of HubSpot, Salesforce and Shopify exports. Without a stated preset, each file whose
header matches one of the folder's exports is read as that export, so one folder may mix our
own format and a tool's. The folder's mapping wins over the preset, key by key (`columns`
column by column). Column names match without regard to case and surrounding spaces; a
column named as ours is used when the one mapped to it is absent, and the file's other
columns are kept as extra columns, under their own names.

A mapping that cannot be used (bad YAML, an unknown key, preset or zone…) rejects every file
of its folder with an error naming the mapping file and the key; a mapped column absent from
a file rejects that file. `reading_key` is what the drops' manifest records beside each
file's hash: when the mapping (or the time zone) changes, its folder's files are read again.
"""

from __future__ import annotations

import codecs
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from flywheel_pipeline.settings import is_timezone
from flywheel_pipeline.sources.files.csv_records import DELIMITERS
from flywheel_pipeline.sources.files.parsed import FileRejected
from flywheel_pipeline.sources.files.schemas import CRM_TABLES, FileTable

MAPPING_FILE = "mapping.yaml"
PRESETS_DIR = Path(__file__).with_name("presets")
NO_PRESET = "none"
TABLE_KEYS = {
    "won_stages": "deals",
    "lost_stages": "deals",
    "closed_column": "deals",
    "fold_line_items": "orders",
    "line_item_columns": "orders",
}
MAPPING_KEYS = (
    "preset",
    "columns",
    "timezone",
    "datetime_format",
    "delimiter",
    "encoding",
    *TABLE_KEYS,
)
# Keys of a preset's export only: where it loads, how it is recognised, and what to do when a
# required column is absent.
PRESET_KEYS = ("table", "detect", "missing")
# Read before the header is: a property of the file, not of the export a header reveals.
FILE_KEYS = ("delimiter", "encoding")
DELIMITER_NAMES = {label: d for d, label in DELIMITERS.items()} | {d: d for d in DELIMITERS}
UTF8 = ("utf-8", "utf-8-sig")


class MappingError(ValueError):
    """A mapping (or a preset) cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class Rules:
    """How one file's columns and values are read: its mapping over its export's preset."""

    columns: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    timezone: str | None = None
    datetime_format: tuple[str, ...] = ()
    won_stages: frozenset[str] = frozenset()  # lower case
    lost_stages: frozenset[str] = frozenset()
    closed_column: tuple[str, ...] = ()
    fold_line_items: bool = False
    line_item_columns: str | None = None
    missing: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Export:
    """One kind of export of a tool (HubSpot contacts, Shopify orders…)."""

    preset: str
    name: str
    table: str  # the folder's last part: contacts, deals, orders…
    detect: tuple[frozenset[str], ...]  # any one set of (lower-case) columns recognises it
    settings: Mapping[str, Any]

    @property
    def label(self) -> str:
        return f"{_TOOL_NAMES.get(self.preset, self.preset)} {self.name}"

    def recognises(self, header: set[str]) -> bool:
        return any(columns <= header for columns in self.detect)


_TOOL_NAMES = {"hubspot": "HubSpot", "salesforce": "Salesforce", "shopify": "Shopify"}


@dataclass(frozen=True)
class FilePlan:
    """How to read one file: file column -> loaded column, and the rules for its values."""

    columns: dict[str, str]
    rules: Rules
    export: Export | None
    closed_column: str | None = None  # the loaded name of the deals' closed flag
    line_item_columns: tuple[str, ...] = ()  # loaded names dropped by folding


@dataclass(frozen=True)
class FolderMapping:
    """A folder's mapping.yaml (or its absence), read and checked once per run."""

    table: FileTable
    file: str  # "landing/crm/contacts/mapping.yaml", also when the folder has none
    exists: bool = False
    settings: Mapping[str, Any] = field(default_factory=dict)
    sha256: str | None = None
    error: str | None = None

    @property
    def delimiter(self) -> str | None:
        return self.settings.get("delimiter")

    @property
    def encoding(self) -> str | None:
        return self.settings.get("encoding")

    @property
    def advice(self) -> str:
        """Where to state how a file of this folder is read, for error messages."""
        return f"in {self.file}" if self.table.mappable else ""

    def reading_key(self, timezone: str | None) -> str | None:
        """A hash of what this folder's files are read under besides their content: the
        mapping file and the configured zone (unless the mapping states one). None when
        there is neither, as for files loaded before mappings existed."""
        zone = None if "timezone" in self.settings else timezone
        if self.sha256 is None and zone is None:
            return None
        key = json.dumps({"mapping": self.sha256, "timezone": zone}, sort_keys=True)
        return hashlib.sha256(key.encode()).hexdigest()

    def plan(self, names: list[str], where: str, hint: str = "") -> FilePlan:
        """How to read a file with these header `names`; rejects a file that cannot load.

        `where` names the file and line for errors; `hint` explains a header that may have
        been split on the wrong delimiter.
        """
        export = self._export(names)
        rules = _rules({**(export.settings if export else {}), **self.settings}, export)
        own = dict(self.settings.get("columns", {}))
        header: dict[str, str] = {}  # lower-case name -> name as found
        for name in names:
            key = name.strip().lower()
            if key in header:
                raise FileRejected(f"{where}: duplicate column {name!r} (case is ignored)")
            header[key] = name
        declared = [c.name for c in self.table.columns]
        sources: dict[str, str] = {}  # our column -> the file's column
        for column in declared:
            found = _first(rules.columns.get(column, ()), header)
            if found is None and column in own and column not in header:
                wanted = " or ".join(repr(name) for name in own[column])
                raise FileRejected(
                    f"{where}: {self.file}: columns.{column}: no column {wanted} (nor "
                    f"{column!r}) in the file's header"
                )
            if found is None:
                found = header.get(column)
            if found is not None:
                sources[column] = found
        loaded = {name: column for column, name in sources.items()}
        columns: dict[str, str] = {}
        for name in names:
            key = name.strip().lower()
            if name in loaded:
                columns[name] = loaded[name]
            elif key in declared:  # named as ours, but another column was mapped to it
                columns[name] = f"{name.strip()} (unmapped)"
            elif not key.startswith("_"):
                columns[name] = name.strip()
        missing = [c for c in self.table.required_columns if c not in sources]
        if missing:
            fix = f"; name the file's column for it under `columns:` in {self.file}"
            raise FileRejected(_missing(where, missing, hint, export, rules, fix))
        return FilePlan(
            columns,
            rules,
            export,
            closed_column=_loaded(_first(rules.closed_column, header), columns),
            line_item_columns=tuple(
                loaded_name
                for name, loaded_name in columns.items()
                if rules.line_item_columns
                and name.strip().lower().startswith(rules.line_item_columns.lower())
                and name not in loaded
            ),
        )

    def _export(self, names: list[str]) -> Export | None:
        preset = self.settings.get("preset")
        if preset == NO_PRESET:
            return None
        table = table_name(self.table)
        exports = [e for e in preset_exports() if e.table == table]
        if preset is not None:
            exports = [e for e in exports if e.preset == preset]
        header = {name.strip().lower() for name in names}
        for export in exports:
            if export.recognises(header):
                return export
        return exports[0] if preset is not None else None


def table_name(table: FileTable) -> str:
    return table.folder.rsplit("/", 1)[-1]


def read_folder_mapping(folder: Path, table: FileTable) -> FolderMapping:
    """The mapping of the files in `folder` (the folder of `table`'s drops)."""
    display = f"landing/{table.folder}/{MAPPING_FILE}"
    path = folder / MAPPING_FILE
    if not table.mappable or not path.is_file():
        return FolderMapping(table, display)
    try:
        content = path.read_bytes()
    except FileNotFoundError:  # removed since
        return FolderMapping(table, display)
    sha256 = hashlib.sha256(content).hexdigest()
    try:
        settings = parse_mapping(content, table, display)
    except MappingError as exc:
        return FolderMapping(table, display, True, {}, sha256, str(exc))
    return FolderMapping(table, display, True, settings, sha256)


def parse_mapping(content: bytes, table: FileTable, display: str) -> dict[str, Any]:
    """A mapping file's settings, checked and normalised; MappingError names file and key."""
    try:
        data = yaml.safe_load(content.decode("utf-8-sig"))
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise MappingError(f"{display}: not valid YAML ({_one_line(exc)})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise MappingError(f"{display}: expected keys (preset, columns, …), got {_kind(data)}")
    return _settings(data, table_name(table), table, display, MAPPING_KEYS)


@cache
def preset_exports() -> tuple[Export, ...]:
    """Every export of the built-in presets, in file and then file order."""
    exports = []
    tables = {table_name(t): t for t in CRM_TABLES}
    for path in sorted(PRESETS_DIR.glob("*.yaml")):
        preset = path.stem
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for name, raw in data.items():
            where = f"preset {path.name}: {name}"
            table = raw.get("table")
            if table not in tables or "detect" not in raw:
                raise MappingError(f"{where}: needs table ({', '.join(tables)}) and detect")
            known = (*MAPPING_KEYS, *PRESET_KEYS)
            settings = _settings(raw, table, tables[table], where, known, presets=False)
            detect = tuple(frozenset(c.lower() for c in cs) for cs in settings["detect"])
            exports.append(Export(preset, name, table, detect, settings))
    return tuple(exports)


def preset_names() -> list[str]:
    return sorted({e.preset for e in preset_exports()})


def _settings(
    data: dict,
    table: str,
    file_table: FileTable,
    where: str,
    known: tuple[str, ...],
    *,
    presets: bool = True,
) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    for key, value in data.items():
        if key not in known:
            raise MappingError(
                f"{where}: unknown key {key!r} (known keys: {', '.join(sorted(known))})"
            )
        if key in TABLE_KEYS and TABLE_KEYS[key] != table:
            raise MappingError(f"{where}: {key}: only a {TABLE_KEYS[key]} mapping has this key")
        if key == "preset" and not presets:
            raise MappingError(f"{where}: preset: a preset cannot name another")
        try:
            settings[key] = _setting(key, value, table, file_table)
        except MappingError as exc:
            raise MappingError(f"{where}: {key}: {exc}") from None
    return settings


def _setting(key: str, value: Any, table: str, file_table: FileTable) -> Any:
    if key == "preset":
        names = preset_names()
        if value not in (*names, NO_PRESET):
            raise MappingError(
                f"unknown preset {value!r} (built in: {', '.join(names)}; or {NO_PRESET})"
            )
        if value != NO_PRESET and not any(
            e.preset == value and e.table == table for e in preset_exports()
        ):
            kinds = ", ".join(
                f"{e.name} (crm/{e.table})" for e in preset_exports() if e.preset == value
            )
            raise MappingError(f"{value} has no export for crm/{table} (its exports: {kinds})")
        return value
    if key == "columns":
        if not isinstance(value, dict):
            raise MappingError(f"expected our column: the file's column, got {_kind(value)}")
        declared = [c.name for c in file_table.columns]
        columns: dict[str, tuple[str, ...]] = {}
        used: dict[str, str] = {}
        for ours, theirs in value.items():
            if ours not in declared:
                raise MappingError(
                    f"{ours!r} is not a column of {file_table.relation} (its columns: "
                    f"{', '.join(declared)})"
                )
            names = _names(theirs, f"columns.{ours}")
            for name in names:
                if name.lower() in used:
                    raise MappingError(f"{name!r} is mapped twice ({used[name.lower()]}, {ours})")
                used[name.lower()] = ours
            columns[ours] = names
        return columns
    if key == "timezone":
        if not isinstance(value, str) or not is_timezone(value):
            raise MappingError(
                f"unknown time zone {value!r} (want an IANA name such as Europe/Berlin)"
            )
        return value
    if key == "datetime_format":
        formats = _names(value, key)
        for fmt in formats:
            if "%" not in fmt:
                raise MappingError(f"{fmt!r} has no % directive (want e.g. %m/%d/%Y %I:%M %p)")
        return formats
    if key == "delimiter":
        if value not in DELIMITER_NAMES:
            raise MappingError(f"{value!r} is not one of , ; | tab (or comma, semicolon, pipe)")
        return DELIMITER_NAMES[value]
    if key == "encoding":
        try:
            return codecs.lookup(str(value)).name
        except LookupError:
            raise MappingError(f"unknown encoding {value!r} (e.g. cp1252, latin-1)") from None
    if key in ("won_stages", "lost_stages"):
        return frozenset(name.strip().lower() for name in _names(value, key))
    if key == "closed_column":
        return _names(value, key)
    if key == "fold_line_items":
        if not isinstance(value, bool):
            raise MappingError(f"expected true or false, got {value!r}")
        return value
    if key == "line_item_columns":
        if not isinstance(value, str) or not value.strip():
            raise MappingError("expected the prefix of the line items' column names")
        return value
    if key == "table":
        return value
    if key == "detect":
        if not isinstance(value, list) or not value:
            raise MappingError("expected lists of column names")
        return tuple(_names(columns, key) for columns in value)
    if key == "missing":
        if not isinstance(value, dict):
            raise MappingError("expected our column: how to supply it")
        return {str(k): str(v) for k, v in value.items()}
    raise AssertionError(key)


def _names(value: Any, key: str) -> tuple[str, ...]:
    """A name or a list of names, each non-empty text."""
    names = value if isinstance(value, list) else [value]
    if not names or not all(isinstance(n, str | int) and str(n).strip() for n in names):
        raise MappingError(f"expected a name or a list of names, got {value!r}")
    return tuple(str(n).strip() for n in names)


def _rules(settings: Mapping[str, Any], export: Export | None) -> Rules:
    columns = dict(export.settings.get("columns", {})) if export else {}
    columns.update(settings.get("columns", {}))  # the mapping's, column by column
    keys = {f.name for f in fields(Rules)}
    values = {k: v for k, v in settings.items() if k in keys and k != "columns"}
    return Rules(columns=columns, **values)


def _first(names: tuple[str, ...], header: Mapping[str, str]) -> str | None:
    """The file's column for the first of `names` in its header."""
    for name in names:
        if name.lower() in header:
            return header[name.lower()]
    return None


def _loaded(name: str | None, columns: Mapping[str, str]) -> str | None:
    return None if name is None else columns.get(name)


def _missing(
    where: str, missing: list[str], hint: str, export: Export | None, rules: Rules, fix: str
) -> str:
    """The rejection of a file lacking required columns: plain for our own format without a
    mapping; for an export, what its preset says about them; else where to map them."""
    message = f"{where}: missing required column(s) {', '.join(missing)}{hint}"
    if export is not None:
        message += f"; read as a {export.label} export"
        notes = [rules.missing[column] for column in missing if column in rules.missing]
        if notes:
            return message + ": " + " ".join(notes)
    if export is not None or rules.columns:
        message += fix
    return message


def _kind(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"[:80]


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())
