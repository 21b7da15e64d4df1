"""What the GA4 and Search Console sources share: retrying requests, counting what an
extraction cost, credentials, and the resource settings. Each source keeps only what differs
(its client library, its quota rules, its report shapes)."""
