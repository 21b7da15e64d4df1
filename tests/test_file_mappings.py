"""Column mappings and presets: real tools' exports load into the raw tables (mapping.py).

The sample exports are generated here with the tools' documented column names and formats
(HubSpot, Salesforce Data Loader and report exports, Shopify admin exports), never committed.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from flywheel_pipeline.resources import build_resources
from flywheel_pipeline.settings import SettingsError, load_settings
from flywheel_pipeline.sources.files.assets import file_table_asset
from flywheel_pipeline.sources.files.automation import folder_fingerprints
from flywheel_pipeline.sources.files.drops import DropSource, table_drop
from flywheel_pipeline.sources.files.mapping import preset_exports
from flywheel_pipeline.sources.files.schemas import CRM_TABLES
from tests.drops_support import Drop
from tests.test_dbt_incremental import dbt_invoke

TABLES = {table.name: table for table in CRM_TABLES}
BERLIN = ZoneInfo("Europe/Berlin")
MAPPING = "landing/crm/contacts/mapping.yaml"


def drop_of(table: str, **options: object) -> DropSource:
    return table_drop(TABLES[f"crm_{table}"], **options)


def utc(local: datetime, zone: ZoneInfo = BERLIN) -> datetime:
    """A wall-clock time in `zone` as the naive UTC time the raw tables store."""
    return local.replace(tzinfo=zone).astimezone(UTC).replace(tzinfo=None)


@pytest.fixture
def drop(tmp_path: Path) -> Drop:
    return Drop(tmp_path)


# --- sample exports -------------------------------------------------------------------------

HUBSPOT_CONTACTS_HEADER = (
    "Record ID,First Name,Last Name,Email,Phone Number,Create Date,Lifecycle Stage,"
    "Original Source,Company Name,Industry,Country/Region,Number of Employees"
)


def hubspot_contacts(rows: int) -> tuple[bytes, list[tuple[str, datetime]]]:
    """A HubSpot contacts export: UTF-8 with a byte-order mark, CRLF, "Create Date" in the
    portal's zone without an offset. Half the rows in March (CET), half in July (CEST)."""
    lines = [HUBSPOT_CONTACTS_HEADER]
    expected = []
    for i in range(rows):
        month = 3 if i % 2 == 0 else 7
        created = datetime(2026, month, 1 + i % 27, (8 + i) % 24, (i * 7) % 60)
        record_id = str(5_100_000 + i)
        lines.append(
            f"{record_id},Jürgen,Müller {i},jm{i}@example.de,+49 30 {i:07d},"
            f"{created:%Y-%m-%d %H:%M},lead,Organic Search,"
            f'"Müller, Schmidt & Co {i % 9}",Retail,Germany,11-50'
        )
        expected.append((record_id, utc(created)))
    return ("\ufeff" + "\r\n".join(lines) + "\r\n").encode(), expected


SHOPIFY_ORDERS_HEADER = (
    "Name,Email,Financial Status,Paid at,Fulfillment Status,Accepts Marketing,Currency,"
    "Subtotal,Shipping,Taxes,Total,Discount Code,Created at,Lineitem quantity,Lineitem name,"
    "Lineitem price,Lineitem sku,Billing Name,Id"
)


def shopify_orders(line_items: int) -> tuple[str, dict[str, tuple]]:
    """A Shopify orders export: one row per line item, the order's own columns on its first
    row only; `Created at` with the shop's offset. Returns the text and, per order, what it
    should load as: (email, ordered_at UTC, revenue, items, first line)."""
    rng = random.Random(11)
    lines = [SHOPIFY_ORDERS_HEADER]
    expected: dict[str, tuple] = {}
    number = 1001
    while len(lines) - 1 < line_items:
        count = min(rng.randint(1, 4), line_items - (len(lines) - 1))
        name = f"#{number}"
        offset = "+0200" if number % 2 else "-0500"
        created = datetime(2026, 3, 1 + number % 28, rng.randint(0, 23), rng.randint(0, 59))
        quantities = [rng.randint(1, 3) for _ in range(count)]
        prices = [rng.choice([9.5, 12.0, 24.99]) for _ in range(count)]
        subtotal = sum(q * p for q, p in zip(quantities, prices, strict=True))
        total = round(subtotal + 4.9, 2)
        shift = timedelta(hours=2) if offset == "+0200" else timedelta(hours=-5)
        email = f"buyer{number}@example.com"
        expected[name] = (email, created - shift, total, sum(quantities), len(lines) + 1)
        for item, (quantity, price) in enumerate(zip(quantities, prices, strict=True)):
            item_columns = f'{quantity},"Tee, organic {item}",{price},SKU-{item},'
            if item == 0:
                lines.append(
                    f"{name},{email},paid,{created:%Y-%m-%d %H:%M:%S} {offset},unfulfilled,"
                    f"yes,EUR,{subtotal:.2f},4.90,0.00,{total:.2f},,"
                    f"{created:%Y-%m-%d %H:%M:%S} {offset},{item_columns}Ann Lee,{number}55"
                )
            else:
                lines.append(f"{name},,,,,,,,,,,,,{item_columns},")
        number += 1
    return "\n".join(lines) + "\n", expected


# --- HubSpot ------------------------------------------------------------------------------


def test_hubspot_contacts_export_loads_every_row_in_the_portal_zone(drop: Drop) -> None:
    content, expected = hubspot_contacts(400)
    drop.write("crm/contacts/hubspot-crm-exports-all-contacts-2026-08-01.csv", content)
    drop.write(
        "crm/contacts/own.csv", "contact_id,email,created_at\nc1,c1@example.com,2026-03-01T10:00Z\n"
    )
    report = drop.load(drop_of("contacts", timezone="Europe/Berlin"))

    assert [(o.status, o.rows, o.quarantined) for o in report.outcomes] == [
        ("loaded", 400, 0),
        ("loaded", 1, 0),  # one folder mixes a tool's export and our own format
    ]
    rows = drop.query(
        "select contact_id, created_at from raw.crm_contacts where contact_id <> 'c1' "
        "order by _line"
    )
    assert rows == expected
    # the same wall-clock hour is 17:19 UTC in March (CET) and 16:19 UTC in July (CEST)
    march, july = expected[0][1], expected[1][1]
    assert (march.month, july.month) == (3, 7)
    assert drop.query(
        'select email, company, country, company_size, source, "First Name", "Lifecycle Stage" '
        "from raw.crm_contacts where contact_id = '5100000'"
    ) == [
        (
            "jm0@example.de",
            "Müller, Schmidt & Co 0",
            "Germany",
            "11-50",
            "Organic Search",
            "Jürgen",
            "lead",
        )
    ]


def test_the_mapping_zone_wins_over_the_setting_and_dst_is_respected(drop: Drop) -> None:
    drop.write(
        "crm/contacts/a.csv",
        "Record ID,Email,Create Date\n"
        "1,a@example.com,2026-03-28 18:19\n"  # the last day of CET
        "2,b@example.com,2026-03-29 18:19\n"  # the first of CEST
        "3,c@example.com,2026-03-14\n",  # a date alone is midnight
    )
    drop.write("crm/contacts/mapping.yaml", "timezone: Europe/Berlin\n")
    drop.load(drop_of("contacts", timezone="America/New_York"))

    assert drop.query("select contact_id, created_at from raw.crm_contacts order by 1") == [
        ("1", datetime(2026, 3, 28, 17, 19)),
        ("2", datetime(2026, 3, 29, 16, 19)),
        ("3", datetime(2026, 3, 13, 23, 0)),
    ]


def test_hubspot_deals_are_won_lost_or_open_by_their_stage(drop: Drop) -> None:
    drop.write(
        "crm/deals/hubspot-crm-exports-deals.csv",
        "Record ID,Deal Name,Deal Stage,Pipeline,Amount,Create Date,Close Date,"
        "Associated Contact IDs\n"
        "9001,Acme renewal,closedwon,Sales Pipeline,12000,2026-02-01 09:00,2026-03-02 10:00,101\n"
        "9002,Globex,Closed Lost,Sales Pipeline,5000,2026-02-03 09:00,2026-03-04 10:00,102\n"
        "9003,Initech,appointmentscheduled,Sales Pipeline,,2026-02-05 09:00,2026-09-30 10:00,\n",
    )
    report = drop.load(drop_of("deals", timezone="Europe/Berlin"))

    assert report.outcomes[0].rows == 3
    assert drop.query(
        "select deal_id, contact_id, stage, amount, is_won, closed_at from raw.crm_deals order by 1"
    ) == [
        ("9001", "101", "closedwon", 12000.0, True, datetime(2026, 3, 2, 9, 0)),
        ("9002", "102", "Closed Lost", 5000.0, False, datetime(2026, 3, 4, 9, 0)),
        # open: its Close Date is the date expected, not a close
        ("9003", None, "appointmentscheduled", None, None, None),
    ]


# --- Shopify ------------------------------------------------------------------------------


def test_shopify_orders_export_folds_line_items_into_orders(drop: Drop) -> None:
    content, expected = shopify_orders(600)
    drop.write("crm/orders/orders_export_1.csv", content)
    report = drop.load(drop_of("orders", block_bytes=2048))  # orders cross block ends

    assert 150 < len(expected) < 600
    assert [(o.rows, o.quarantined) for o in report.outcomes] == [(len(expected), 0)]
    rows = drop.query(
        "select order_id, email, ordered_at, revenue, items, _line from raw.crm_orders "
        "order by _line"
    )
    assert rows == [(name, *values) for name, values in expected.items()]
    columns = [row[0] for row in drop.query("describe raw.crm_orders")]
    assert "Financial Status" in columns and "Id" in columns  # order columns are kept
    assert not [c for c in columns if c.startswith("Lineitem")]  # one item's are not


def test_folding_gives_the_same_orders_whatever_the_block_size(tmp_path: Path) -> None:
    content, _ = shopify_orders(120)
    results = []
    for name, block in [("one", 8 * 1024 * 1024), ("many", 97)]:
        drop = Drop(tmp_path / name)
        drop.write("crm/orders/a.csv", content)
        drop.load(drop_of("orders", block_bytes=block))
        results.append(drop.query("select * exclude (_loaded_at) from raw.crm_orders"))
    assert results[0] == results[1]


def test_a_bad_line_item_quantity_quarantines_its_order_on_its_first_line(drop: Drop) -> None:
    drop.write(
        "crm/orders/a.csv",
        "Name,Email,Total,Created at,Lineitem quantity,Lineitem name\n"
        "#1,a@example.com,10,2026-03-14 18:19:00 +0200,1,Tee\n"
        "#1,,,,two,Cap\n"
        "#2,b@example.com,5,2026-03-14 18:19:00 +0200,1,Sock\n",
    )
    drop.load(drop_of("orders"))

    assert drop.ids() == ["#2"]
    assert drop.quarantine() == [("crm/orders/a.csv", 2, "items", "items: not a number")]


def test_shopify_customers_need_a_creation_date_and_say_how_to_add_one(drop: Drop) -> None:
    header = (
        "Customer ID,First Name,Last Name,Email,Accepts Email Marketing,Default Address Company,"
        "Default Address Country Code,Total Spent,Total Orders,Tags"
    )
    row = "7001,Ann,Lee,ann@example.com,yes,Acme,DE,120.50,3,vip"
    drop.write("crm/contacts/customers_export.csv", f"{header}\n{row}\n")
    first = drop.load(drop_of("contacts"))
    drop.write(
        "crm/contacts/customers_export.csv", f"{header},First Order\n{row},2026-01-05T10:00Z\n"
    )
    drop.write("crm/contacts/mapping.yaml", "columns:\n  created_at: First Order\n")
    second = drop.load(drop_of("contacts"))

    [error] = [o.error for o in first.rejected]
    assert error.startswith(
        "crm/contacts/customers_export.csv, line 1: missing required column(s) created_at; "
        "read as a Shopify customers export: Shopify's customer export has no creation date."
    )
    assert "columns: {created_at:" in error
    assert second.loaded[0].rows == 1
    assert drop.query("select contact_id, email, company, country from raw.crm_contacts") == [
        ("7001", "ann@example.com", "Acme", "DE")
    ]


# --- Salesforce ---------------------------------------------------------------------------


def test_salesforce_contacts_and_leads_load_as_contacts(drop: Drop) -> None:
    drop.write(  # Data Loader: API names, UTC
        "crm/contacts/Contact.csv",
        '"Id","FirstName","LastName","Email","AccountId","LeadSource","CreatedDate",'
        '"MailingCountry"\n'
        '"0035g00000A1","Ann","Lee","ann@example.com","0015g00000X1","Web",'
        '"2026-03-14T18:19:00.000Z","Germany"\n',
    )
    drop.write(  # a report export: labels, the user's locale and zone
        "crm/contacts/report1712345.csv",
        '"Lead ID","First Name","Last Name","Company / Account","Email","Lead Source",'
        '"Industry","Created Date"\n'
        '"00Q5g00000B2","Bob","Ray","Globex","bob@example.com","Partner Referral",'
        '"Manufacturing","3/14/2026 6:19 PM"\n',
    )
    drop.write("crm/contacts/mapping.yaml", "preset: salesforce\ntimezone: America/New_York\n")
    report = drop.load(drop_of("contacts"))

    assert [(o.status, o.rows) for o in report.outcomes] == [("loaded", 1), ("loaded", 1)]
    assert drop.query(
        "select contact_id, email, created_at, source, company, industry, country "
        "from raw.crm_contacts order by 1"
    ) == [
        (
            "0035g00000A1",
            "ann@example.com",
            datetime(2026, 3, 14, 18, 19),
            "Web",
            None,
            None,
            "Germany",
        ),
        (
            "00Q5g00000B2",
            "bob@example.com",
            datetime(2026, 3, 14, 22, 19),
            "Partner Referral",
            "Globex",
            "Manufacturing",
            None,
        ),
    ]


def test_salesforce_opportunities_load_as_deals(drop: Drop) -> None:
    drop.write(
        "crm/deals/Opportunity.csv",
        "Id,Name,StageName,Amount,CloseDate,IsWon,IsClosed,ContactId,CreatedDate\n"
        "0065g01,Acme,Closed Won,12000,2026-03-02,true,true,0035g00000A1,"
        "2026-02-01T09:00:00.000Z\n"
        "0065g02,Globex,Negotiation/Review,8000,2026-09-30,false,false,,"
        "2026-02-02T09:00:00.000Z\n"
        "0065g03,Initech,Closed Lost,,2026-03-05,false,true,0035g00000A2,"
        "2026-02-03T09:00:00.000Z\n",
    )
    drop.load(drop_of("deals", timezone="Europe/Berlin"))

    assert drop.query(
        "select deal_id, contact_id, stage, amount, is_won, closed_at from raw.crm_deals order by 1"
    ) == [
        ("0065g01", "0035g00000A1", "Closed Won", 12000.0, True, datetime(2026, 3, 1, 23, 0)),
        ("0065g02", None, "Negotiation/Review", 8000.0, None, None),  # open
        ("0065g03", "0035g00000A2", "Closed Lost", None, False, datetime(2026, 3, 4, 23, 0)),
    ]


# --- our own format, delimiters, encodings, zones -----------------------------------------


def test_a_contacts_file_with_only_id_email_and_created_at_loads(drop: Drop) -> None:
    drop.write(
        "crm/contacts/a.csv",
        "contact_id,email,created_at\nc1,ann@example.com,2026-03-01T10:00:00Z\n",
    )
    drop.write("crm/ad_spend/a.csv", "date,source,spend\n2026-03-01,google,12.5\n")
    drop.load(drop_of("contacts"))
    drop.load(drop_of("ad_spend"))

    assert drop.query("select contact_id, email, source, company from raw.crm_contacts") == [
        ("c1", "ann@example.com", None, None)
    ]
    assert drop.query("select source, medium, spend from raw.crm_ad_spend") == [
        ("google", None, 12.5)
    ]


def test_semicolon_tab_and_utf16_files_load(drop: Drop) -> None:
    drop.write(
        "crm/contacts/semicolon.csv",
        'contact_id;email;created_at;company\nc1;a@example.com;2026-03-01T10:00Z;"Müller; GmbH"\n',
    )
    drop.write(
        "crm/contacts/tab.csv", "contact_id\temail\tcreated_at\nc2\tb@x.com\t2026-03-01T10:00Z\n"
    )
    # Excel's "Unicode text": UTF-16 with a byte-order mark, tab-separated
    utf16 = "contact_id\tcompany\tcreated_at\r\nc3\tÇa va\t2026-03-01T10:00Z\r\n".encode("utf-16")
    drop.write("crm/contacts/excel.txt.csv", utf16)
    report = drop.load(drop_of("contacts"))

    assert [o.rows for o in report.outcomes] == [1, 1, 1]
    assert drop.query("select contact_id, company from raw.crm_contacts order by 1") == [
        ("c1", "Müller; GmbH"),
        ("c2", None),
        ("c3", "Ça va"),
    ]


def test_a_stated_delimiter_reads_a_header_that_holds_several(drop: Drop) -> None:
    drop.write(
        "crm/contacts/a.csv",
        "contact_id;created_at;Company, legal name\nc1;2026-03-01T10:00Z;Acme, Inc.\n",
    )
    first = drop.load(drop_of("contacts"))
    drop.write("crm/contacts/mapping.yaml", "delimiter: semicolon\n")
    drop.load(drop_of("contacts"))

    assert "missing required column(s) contact_id, created_at" in first.rejected[0].error
    assert drop.query('select contact_id, "Company, legal name" from raw.crm_contacts') == [
        ("c1", "Acme, Inc.")
    ]


def test_a_cp1252_file_is_rejected_with_how_to_fix_and_loads_once_stated(drop: Drop) -> None:
    content = (
        "contact_id,email,created_at,company\r\n"
        "c1,ann@example.com,2026-03-01T10:00:00Z,Acme\r\n"
        "c2,bob@example.com,2026-03-01T10:00:00Z,Café Müller – 5 €\r\n"
    ).encode("cp1252")
    drop.write("crm/contacts/a.csv", content)
    first = drop.load(drop_of("contacts"))
    drop.write("crm/contacts/mapping.yaml", "encoding: cp1252\n")
    second = drop.load(drop_of("contacts"))

    assert [o.error for o in first.rejected] == [
        "crm/contacts/a.csv, line 3: not UTF-8 text, invalid UTF-8 (byte 0xe9 at byte 44); "
        "Flywheel reads UTF-8; if the file is in another encoding, set its encoding as "
        f"`encoding:` (e.g. `cp1252`, `latin-1`) in {MAPPING}"
    ]
    assert [(o.version, o.status, o.rows) for o in second.outcomes] == [(2, "loaded", 2)]
    assert drop.query("select company from raw.crm_contacts order by 1") == [
        ("Acme",),
        ("Café Müller – 5 €",),
    ]


def test_bytes_that_are_not_the_stated_encoding_reject_the_file_by_line(drop: Drop) -> None:
    drop.write("crm/contacts/a.csv", b"contact_id,created_at\nc1,2026-03-01T10:00Z\nc\x81,x\n")
    drop.write("crm/contacts/mapping.yaml", "encoding: cp1252\n")
    report = drop.load(drop_of("contacts"))

    assert [o.error for o in report.rejected] == [
        "crm/contacts/a.csv, line 3: byte 0x81 is not cp1252 text; set its encoding as "
        f"`encoding:` (e.g. `cp1252`, `latin-1`) in {MAPPING}"
    ]


def test_without_a_zone_local_times_are_quarantined_and_setting_one_reloads(drop: Drop) -> None:
    drop.write(
        "crm/orders/a.csv",
        "order_id,ordered_at,revenue\no1,2026-03-14 18:19,5\no2,2026-03-14T18:19:00+01:00,5\n",
    )
    first = drop.load(drop_of("orders"))
    quarantined = drop.quarantine()
    unchanged = drop.load(drop_of("orders"))
    second = drop.load(drop_of("orders", timezone="Europe/Berlin"))

    assert (first.loaded[0].rows, first.loaded[0].quarantined) == (1, 1)
    assert quarantined == [
        (
            "crm/orders/a.csv",
            2,
            "ordered_at",
            "ordered_at: timezone-less timestamp; set FLYWHEEL_TIMEZONE or `timezone:` in "
            "landing/crm/orders/mapping.yaml",
        )
    ]
    assert unchanged.outcomes == []
    assert [(o.version, o.rows, o.quarantined) for o in second.outcomes] == [(2, 2, 0)]
    assert drop.query("select order_id, ordered_at from raw.crm_orders order by 1") == [
        ("o1", datetime(2026, 3, 14, 17, 19)),
        ("o2", datetime(2026, 3, 14, 17, 19)),
    ]
    assert drop.quarantine() == []


# --- mapping files ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mapping", "error"),
    [
        (
            "timezon: Europe/Berlin\n",
            f"{MAPPING}: unknown key 'timezon' (known keys: closed_column, columns, "
            "datetime_format, delimiter, encoding, fold_line_items, line_item_columns, "
            "lost_stages, preset, timezone, won_stages)",
        ),
        (
            "preset: hubspt\n",
            f"{MAPPING}: preset: unknown preset 'hubspt' (built in: hubspot, salesforce, "
            "shopify; or none)",
        ),
        (
            "timezone: Europe/Berln\n",
            f"{MAPPING}: timezone: unknown time zone 'Europe/Berln' (want an IANA name such as "
            "Europe/Berlin)",
        ),
        ("won_stages: [won]\n", f"{MAPPING}: won_stages: only a deals mapping has this key"),
        (
            "columns:\n  emial: E-mail\n",
            f"{MAPPING}: columns: 'emial' is not a column of raw.crm_contacts (its columns: "
            "contact_id, email, created_at, source, medium, campaign, ga_client_id, company, "
            "industry, company_size, country)",
        ),
        (
            "encoding: klingon\n",
            f"{MAPPING}: encoding: unknown encoding 'klingon' (e.g. cp1252, latin-1)",
        ),
        ("columns: [\n", f"{MAPPING}: not valid YAML ("),
    ],
)
def test_a_bad_mapping_rejects_its_folder_only_naming_file_and_key(
    drop: Drop, mapping: str, error: str
) -> None:
    drop.write("crm/contacts/a.csv", "contact_id,created_at\nc1,2026-03-01T10:00:00Z\n")
    drop.write("crm/contacts/b.csv", "contact_id,created_at\nc2,2026-03-01T10:00:00Z\n")
    drop.write("crm/contacts/mapping.yaml", mapping)
    drop.write("crm/orders/a.csv", "order_id,ordered_at,revenue\no1,2026-03-01T10:00:00Z,5\n")
    contacts = drop.load(drop_of("contacts"))
    orders = drop.load(drop_of("orders"))

    assert [o.file for o in contacts.rejected] == ["crm/contacts/a.csv", "crm/contacts/b.csv"]
    for outcome in contacts.rejected:
        assert outcome.error.startswith(f"{outcome.file}: not read: {error}")
    assert orders.loaded[0].rows == 1


def test_a_mapped_column_absent_from_a_file_rejects_that_file(drop: Drop) -> None:
    drop.write("crm/contacts/mapping.yaml", "columns:\n  email: E-mail\n")
    drop.write("crm/contacts/a.csv", "contact_id,created_at\nc1,2026-03-01T10:00:00Z\n")
    drop.write("crm/contacts/b.csv", "contact_id,email,created_at\nc2,b@x.com,2026-03-01T10:00Z\n")
    drop.write("crm/contacts/c.csv", "contact_id,E-mail,created_at\nc3,c@x.com,2026-03-01T10:00Z\n")
    report = drop.load(drop_of("contacts"))

    assert [o.error for o in report.rejected] == [
        f"crm/contacts/a.csv, line 1: {MAPPING}: columns.email: no column 'E-mail' (nor "
        "'email') in the file's header"
    ]
    assert drop.query("select contact_id, email from raw.crm_contacts order by 1") == [
        ("c2", "b@x.com"),  # our own name serves when the mapped one is absent
        ("c3", "c@x.com"),
    ]


def test_adding_a_mapping_reloads_a_rejected_file_and_a_change_replaces_its_rows(
    drop: Drop,
) -> None:
    drop.write(
        "crm/contacts/export.csv",
        "Contact Number,E-mail,Signed up\n"
        "k1,ann@example.com,2026-03-14 18:19\n"
        "k2,bob@example.com,2026-07-14 18:19\n",
    )

    def map_columns(timezone: str) -> None:
        drop.write(
            "crm/contacts/mapping.yaml",
            "columns:\n  contact_id: Contact Number\n  email: E-mail\n  created_at: Signed up\n"
            f"timezone: {timezone}\n",
        )

    rejected = drop.load(drop_of("contacts"))
    still = drop.load(drop_of("contacts"))
    map_columns("Europe/Berlin")
    loaded = drop.load(drop_of("contacts"))
    rerun = drop.load(drop_of("contacts"))
    map_columns("America/New_York")
    changed = drop.load(drop_of("contacts"))

    assert rejected.rejected[0].error == (
        "crm/contacts/export.csv, line 1: missing required column(s) contact_id, created_at"
    )
    assert still.outcomes == [] and list(still.still_rejected) == ["crm/contacts/export.csv"]
    assert [(o.version, o.status, o.rows) for o in loaded.outcomes] == [(2, "loaded", 2)]
    assert rerun.outcomes == [] and rerun.unchanged == ["crm/contacts/export.csv"]
    assert [(o.version, o.rows) for o in changed.outcomes] == [(3, 2)]
    assert drop.query("select contact_id, email, created_at from raw.crm_contacts order by 1") == [
        ("k1", "ann@example.com", datetime(2026, 3, 14, 22, 19)),
        ("k2", "bob@example.com", datetime(2026, 7, 14, 22, 19)),
    ]  # the New York reading replaced the Berlin one: nothing doubled
    versions = drop.query(
        "select version, status, sha256, mapping_sha256 is null from raw.file_manifest "
        "order by version"
    )
    assert [v[:2] for v in versions] == [(1, "rejected"), (2, "loaded"), (3, "loaded")]
    assert len({v[2] for v in versions}) == 1  # the same content, read three ways
    assert [v[3] for v in versions] == [True, False, False]


def test_a_stated_preset_reads_a_file_the_header_would_not_recognise(drop: Drop) -> None:
    drop.write(  # a trimmed HubSpot export: no Email column, so not recognised by itself
        "crm/contacts/a.csv", "Record ID,Create Date,Lifecycle Stage\n101,2026-03-14 18:19,lead\n"
    )
    first = drop.load(drop_of("contacts", timezone="Europe/Berlin"))
    drop.write("crm/contacts/mapping.yaml", "preset: hubspot\n")
    second = drop.load(drop_of("contacts", timezone="Europe/Berlin"))

    assert first.rejected and second.loaded[0].rows == 1
    assert drop.query("select contact_id, created_at from raw.crm_contacts") == [
        ("101", datetime(2026, 3, 14, 17, 19))
    ]


def test_every_preset_export_is_valid_and_ships_with_the_package() -> None:
    exports = {(e.preset, e.name): e.table for e in preset_exports()}
    assert exports == {
        ("hubspot", "contacts"): "contacts",
        ("hubspot", "deals"): "deals",
        ("salesforce", "contacts"): "contacts",
        ("salesforce", "leads"): "contacts",
        ("salesforce", "opportunities"): "deals",
        ("shopify", "orders"): "orders",
        ("shopify", "customers"): "contacts",
    }
    pyproject = (Path(__file__).parents[1] / "pyproject.toml").read_text()
    assert '"sources/files/presets/*.yaml"' in pyproject


# --- settings, resources, assets, sensor --------------------------------------------------


def test_flywheel_timezone_is_checked_and_reaches_the_file_assets(
    drop: Drop, tmp_path: Path
) -> None:
    with pytest.raises(SettingsError, match=r"^FLYWHEEL_TIMEZONE: .*unknown time zone"):
        load_settings(flywheel_timezone="Europe/Berln")
    settings = load_settings(flywheel_home=tmp_path, flywheel_timezone="Europe/Berlin")
    assert build_resources(settings)["paths"].timezone == "Europe/Berlin"

    drop.write("crm/orders/a.csv", "order_id,ordered_at,revenue\no1,2026-07-14 18:19,5\n")
    resources = drop.resources(timezone="Europe/Berlin")
    dg.materialize([file_table_asset(TABLES["crm_orders"], [])], resources=resources)
    assert drop.query("select ordered_at from raw.crm_orders") == [(datetime(2026, 7, 14, 16, 19),)]


def test_the_landing_sensor_sees_a_changed_mapping(drop: Drop) -> None:
    drop.write("crm/contacts/a.csv", "contact_id,created_at\nc1,2026-03-01T10:00:00Z\n")
    before = folder_fingerprints(drop.landing)
    drop.write("crm/contacts/mapping.yaml", "timezone: Europe/Berlin\n")
    after = folder_fingerprints(drop.landing)

    assert before["crm/contacts"] != after["crm/contacts"]
    assert {k: v for k, v in before.items() if k != "crm/contacts"} == {
        k: v for k, v in after.items() if k != "crm/contacts"
    }


@pytest.mark.slow
def test_orders_without_a_contact_id_reach_their_person_through_the_email(
    drop: Drop, tmp_path: Path
) -> None:
    drop.write(
        "crm/contacts/a.csv",
        "contact_id,email,created_at\n"
        "c1, Ann@Example.com ,2026-03-01T10:00:00Z\n"
        "c2,ann@example.com,2026-03-02T10:00:00Z\n"  # the same person as c1
        "c3,bob@example.com,2026-03-01T10:00:00Z\n",
    )
    drop.write(
        "crm/orders/orders_export.csv",
        "Name,Email,Total,Created at,Lineitem quantity\n"
        "#1,ANN@example.com,10,2026-03-14 18:19:00 +0200,1\n"
        "#2,bob@example.com,5,2026-03-14 18:19:00 +0200,2\n"
        "#3,zed@example.com,5,2026-03-14 18:19:00 +0200,2\n",  # no contact has it
    )
    drop.write(
        "crm/orders/own.csv",
        "order_id,contact_id,ordered_at,revenue\n"
        "o1,c3,2026-03-01T10:00:00Z,1\n"
        "o2,ghost,2026-03-01T10:00:00Z,1\n",  # a buyer unknown to the CRM: their own person
    )
    drop.load(drop_of("contacts"))
    drop.load(drop_of("orders"))
    models = [
        "channel_groups",
        "stg_crm__contacts",
        "stg_crm__orders",
        "stg_crm__nps_responses",
        "int_identity__persons",
        "int_crm__person_orders",
        "int_crm__person_nps_responses",
        "stg_ml__customer_value",
        "customers",
    ]
    failed = dbt_invoke(
        ["build", "--select", *models, "--indirect-selection", "cautious"],
        drop.database,
        tmp_path / "target",
    )

    assert failed == []
    assert drop.query(
        "select order_id, contact_id, email from staging.stg_crm__orders order by 1"
    ) == [
        ("#1", "c1", "ann@example.com"),
        ("#2", "c3", "bob@example.com"),
        ("#3", None, "zed@example.com"),
        ("o1", "c3", None),
        ("o2", "ghost", None),
    ]
    assert drop.query("select contact_id, orders, revenue from delight.customers order by 1") == [
        ("c1", 1, 10.0),
        ("c3", 2, 6.0),
        ("ghost", 1, 1.0),
    ]
