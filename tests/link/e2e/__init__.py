"""End-to-end scenarios of the connection service against a real hub behind the fault proxy."""
