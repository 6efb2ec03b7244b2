-- Interactions of the two configured domains from every landing partition up to the run date,
-- one row per (user, item): a pair landed twice (re-collection, overlapping exports) counts once,
-- at its earliest event.
with landed as (
    select
        cast(user_id as varchar) as user_id,
        cast(item_id as varchar) as item_id,
        cast(domain as varchar) as domain,
        cast(event_ts as timestamptz) as event_ts,
        cast(rating as float) as rating,
        cast(source as varchar) as source,
        cast(ingest_date as date) as ingest_date
    from read_parquet(getvariable('landing_glob'), hive_partitioning = true, union_by_name = true)
),

in_scope as (
    select *
    from landed
    where ingest_date <= getvariable('run_date')
      and domain in (getvariable('source_domain'), getvariable('target_domain'))
),

ranked as (
    select
        *,
        row_number() over (
            partition by user_id, item_id order by event_ts, ingest_date, source
        ) as pair_rank
    from in_scope
)

select user_id, item_id, domain, event_ts, rating, source, ingest_date
from ranked
where pair_rank = 1
