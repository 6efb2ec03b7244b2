-- Every landed interaction row, as landed (no de-duplication), with its ingest date.
-- Incremental: run once per new or re-collected landing partition; `partition_files` holds that
-- partition's files (crossrec.features.incremental), so older partitions are never re-read.
select
    cast(user_id as varchar) as user_id,
    cast(item_id as varchar) as item_id,
    cast(domain as varchar) as domain,
    cast(event_ts as timestamptz) as event_ts,
    cast(rating as float) as rating,
    cast(source as varchar) as source,
    cast(ingest_date as date) as ingest_date
from read_parquet(getvariable('partition_files'), hive_partitioning = true, union_by_name = true)
