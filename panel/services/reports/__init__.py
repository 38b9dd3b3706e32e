"""Officials' reports and the audit log's search."""
