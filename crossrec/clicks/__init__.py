"""Click-log ingestion and feedback metrics: the loop from published lists back to training."""
