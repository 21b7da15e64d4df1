"""What the GA4 and Search Console sources share: the raw asset that extracts a report's days
(assets.py), what a client is and the demo client (client.py), the report definition's common
fields (report.py), the resource and its settings (resource.py), retrying requests, counting
what an extraction cost, credentials, and the demo's snapshots with the days they serve. Each
source keeps only what differs (its client library, its quota rules, its report shapes)."""
