-- Click-log events about served recommendations, from every `lake/clicks/event_date=D/`
-- partition up to the run date, one row per event_id (a re-delivered event counts once, at its
-- earliest delivery). `clicks_files` falls back to a zero-row placeholder with the CLICKS schema
-- when no click log has been ingested yet (see stg_items for why).
with landed as (
    select
        cast(event_id as varchar) as event_id,
        cast(event_ts as timestamptz) as event_ts,
        cast(user_id as varchar) as user_id,
        cast(item_id as varchar) as item_id,
        cast(event_type as varchar) as event_type,
        cast(rec_run_date as date) as rec_run_date,
        cast("rank" as smallint) as "rank",
        cast(model_version as varchar) as model_version,
        cast(
            nullif(regexp_extract(filename, 'event_date=([0-9]{4}-[0-9]{2}-[0-9]{2})', 1), '')
            as date
        ) as event_date
    from read_parquet(getvariable('clicks_files'), filename = true, union_by_name = true)
),

ranked as (
    select
        *,
        row_number() over (partition by event_id order by event_date, event_ts) as copy_no
    from landed
    where event_date <= getvariable('run_date')
)

select event_id, event_ts, user_id, item_id, event_type, rec_run_date, "rank", model_version,
    event_date
from ranked
where copy_no = 1
