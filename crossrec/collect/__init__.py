"""Collectors: turn raw sources into the landing zone ``landing/ingest_date=YYYY-MM-DD/``."""
