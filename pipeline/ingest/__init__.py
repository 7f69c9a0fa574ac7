"""Stage ingest: PDF bytes → `Document` (pages with physical numbers and printed labels)."""
