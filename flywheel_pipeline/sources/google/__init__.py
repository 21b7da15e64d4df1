"""What the GA4 and Search Console sources share: retrying requests, counting what an
extraction cost, credentials, the resource settings, and the demo's snapshots with the days
they serve. Each source keeps only what differs (its client library, its quota rules, its
report shapes)."""
