"""Raw Search Console asset: date × query × page × country × device."""

from collections.abc import Sequence

import dagster as dg

from flywheel_pipeline.metadata import frame_metadata, utc_now
from flywheel_pipeline.sources.search_console.extract import RAW_TABLE, to_raw_rows
from flywheel_pipeline.sources.search_console.resource import SearchConsoleResource
from flywheel_pipeline.warehouse import WAREHOUSE_POOL, WarehouseResource, replace_table


def build_search_console_assets(deps: Sequence[dg.AssetKey] = ()) -> list[dg.AssetsDefinition]:
    @dg.asset(
        key=["raw", RAW_TABLE],
        group_name="sources",
        kinds={"duckdb", "google"},
        pool=WAREHOUSE_POOL,
        deps=deps,
        description="Search Console performance by date × query × page × country × device.",
    )
    def gsc_search_analytics(
        warehouse: WarehouseResource, search_console: SearchConsoleResource
    ) -> dg.MaterializeResult:
        pages = search_console.client().pages() if search_console.configured else iter(())
        rows = to_raw_rows(pages, utc_now())
        with warehouse.get_connection() as conn:
            replace_table(conn, f"raw.{RAW_TABLE}", rows)
        status = {} if search_console.configured else {"skipped": "GSC_SITE_URL is not set"}
        return dg.MaterializeResult(
            metadata=frame_metadata(rows, requests=int(rows["_request_id"].nunique()), **status)
        )

    return [gsc_search_analytics]
