"""What a run reports: checks and reports, their rendering as tables and JSON, and live progress."""
