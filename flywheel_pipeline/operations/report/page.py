"""The page being written: escaped HTML parts, tables, and Plotly charts in one style.

Plotly.js is inlined once, with the first chart, so the file opens without network; every
chart uses one small template (a full default template would be repeated in every figure's
JSON, some kilobytes each).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping, Sequence

import duckdb
import pandas as pd
import plotly.graph_objects as go

from flywheel_pipeline.warehouse import read_relation_if_exists

COLORS = ["#2563a8", "#e07b39", "#3a9d5d", "#c44e52", "#8172b2", "#937860", "#3aa6b9", "#b59a2f"]
GOOD, BAD, MUTED = "#1e7b3c", "#b3261e", "#6b7280"
TEMPLATE = go.layout.Template(
    layout={
        "font": {"family": "system-ui, sans-serif", "size": 12, "color": "#222"},
        "colorway": COLORS,
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        "title": {"font": {"size": 14}, "x": 0, "xanchor": "left"},
        # automargin: long tick labels and axis titles push the plot in, never overlap it
        "xaxis": {
            "gridcolor": "#eceff3",
            "linecolor": "#c9ced6",
            "zeroline": False,
            "automargin": True,
        },
        "yaxis": {
            "gridcolor": "#eceff3",
            "linecolor": "#c9ced6",
            "zeroline": False,
            "automargin": True,
        },
        "hoverlabel": {"font": {"family": "system-ui, sans-serif"}},
    }
)
# No mode bar logo, and charts follow the page width.
_CONFIG = {"displaylogo": False, "responsive": True}
# A table longer than this shows its first rows only: the marts hold the rest.
MAX_TABLE_ROWS = 50

STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5rem auto;max-width:1100px;padding:0 1rem;
color:#222;line-height:1.4}
h1{margin:0}h2{margin:2.2rem 0 .6rem;padding-top:.6rem;border-top:1px solid #e5e7eb;
font-size:1.3rem}.note{color:#6b7280}.stale{color:#b3261e;font-size:.9rem}
table.data{border-collapse:collapse;font-size:.85rem;margin:.6rem 0 1rem}
table.data td,table.data th{padding:.3rem .6rem;border-bottom:1px solid #e5e7eb;
text-align:left;vertical-align:top}table.data th{background:#f6f7f9}
.banner{background:#fdecea;border:1px solid #d93025;border-radius:6px;padding:.6rem 1rem;
margin:1rem 0}.banner p{margin:.3rem 0}
.cards{display:flex;flex-wrap:wrap;gap:.8rem;margin:.8rem 0}
.card{flex:1 1 150px;border:1px solid #e5e7eb;border-radius:8px;padding:.7rem .9rem}
.card .label{color:#6b7280;font-size:.85rem}.card .value{font-size:1.6rem;font-weight:600}
.card .change{font-size:.85rem}.up{color:#1e7b3c}.down{color:#b3261e}.flat{color:#6b7280}
.phase{border-left:5px solid #2563a8;background:#f3f7fc;padding:.6rem 1rem;margin:.8rem 0;
border-radius:4px}.phase strong{font-size:1.1rem}.phase.acceleration{border-color:#3a9d5d}
.phase.self_sustaining{border-color:#1e7b3c;background:#eef8f1}
ol.actions{padding-left:1.4rem}ol.actions li{margin:.5rem 0}
ol.actions .impact{color:#1e7b3c;font-weight:600}ol.actions .meta{color:#6b7280;font-size:.85rem}
.funnel{display:flex;align-items:stretch;flex-wrap:wrap;gap:.3rem;margin:.8rem 0}
.funnel .stage{flex:1 1 130px;background:#f3f7fc;border-radius:8px;padding:.6rem .8rem}
.funnel .step{flex:0 0 110px;align-self:center;text-align:center;font-size:.85rem}
.funnel .rate{font-size:1.15rem;font-weight:600}.funnel .leak{background:#fdecea;
border-radius:6px;padding:.2rem}
"""


def esc(value: object) -> str:
    """Text from the data, safe inside HTML."""
    return html.escape(str(value))


def signed_share(change: float, decimals: int = 0) -> str:
    """A relative change as a signed percentage ("+12%"), as shown: one that rounds to
    nothing reads "+0%", never "-0%"."""
    shown = round(change, decimals + 2) + 0.0  # + 0.0 turns -0.0 into 0.0
    return f"{shown:+.{decimals}%}"


class Page:
    """The report being written. `stale` maps a relation to the notes that say what stale
    source data it was built on; a section that reads the relation shows them once.
    `unconfigured` maps a source not configured (GA4, Search Console) to why, so that a
    section can say so instead of drawing nothing."""

    def __init__(
        self,
        stale: Mapping[str, Sequence[str]] | None = None,
        unconfigured: Mapping[str, str] | None = None,
    ) -> None:
        self.parts: list[str] = []
        self.stale = stale or {}
        self.unconfigured = dict(unconfigured or {})
        self.charts = 0
        self._noted: set[str] = set()

    def heading(self, text: str) -> None:
        # an id per section, so that a link (or a reader's bookmark) can point at it
        anchor = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
        self.parts.append(f"<h2 id='{anchor}'>{esc(text)}</h2>")
        self._noted = set()

    def note(self, text: str) -> None:
        self.parts.append(f"<p class='note'>{esc(text)}</p>")

    def markup(self, trusted: str) -> None:
        """HTML built by the caller, every piece of data in it already escaped."""
        self.parts.append(trusted)

    def read(self, conn: duckdb.DuckDBPyConnection, relation: str) -> pd.DataFrame | None:
        """The relation (None if it does not exist), saying first, once per section, when it
        was built on a source's stale data."""
        for note in self.stale.get(relation, ()):
            if note not in self._noted:
                self._noted.add(note)
                self.parts.append(f"<p class='stale'>{esc(note)}</p>")
        return read_relation_if_exists(conn, relation)

    def section(
        self, title: str, conn: duckdb.DuckDBPyConnection, relation: str, empty: str = ""
    ) -> pd.DataFrame | None:
        """Start a section on `relation`: its heading, then the rows, or None after a note
        (`empty`, else that the relation is not built yet) when there are none."""
        self.heading(title)
        frame = self.read(conn, relation)
        if frame is None or frame.empty:
            self.note(empty or f"{relation} is not built yet.")
            return None
        return frame

    def figure(self, fig: go.Figure, height: int = 360) -> None:
        fig.update_layout(
            template=TEMPLATE, margin={"l": 50, "r": 20, "t": 50, "b": 50}, height=height
        )
        include = "inline" if self.charts == 0 else False
        self.charts += 1
        self.parts.append(
            fig.to_html(
                full_html=False,
                include_plotlyjs=include,
                config=_CONFIG,
                default_width="100%",
                default_height=f"{height}px",
            )
        )

    def table(self, frame: pd.DataFrame, max_rows: int = MAX_TABLE_ROWS) -> None:
        shown = frame.head(max_rows)
        # counts read with thousands separators (210,248 rather than 210248)
        counts = {
            c: "{:,}".format for c in shown.columns if pd.api.types.is_integer_dtype(shown[c])
        }
        self.parts.append(
            shown.to_html(index=False, classes="data", border=0, escape=True, formatters=counts)
        )
        if len(frame) > max_rows:
            self.note(f"The first {max_rows} of {len(frame):,} rows.")


def chart(factory: Callable[..., go.Figure], *args, **kwargs) -> go.Figure:
    """A Plotly Express figure in the report's colours: px picks trace colours when the
    figure is made, so the template must be there from the start."""
    return factory(*args, template=TEMPLATE, **kwargs)


def document(title: str, header: str, body: Sequence[str]) -> str:
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>"
        f"{header}{''.join(body)}</body></html>"
    )
