-- Interactions of the two configured domains from every landing partition up to the run date
-- (stg_landed), one row per (user, item): a pair landed twice (re-collection, overlapping
-- exports) counts once, at its earliest event.
with in_scope as (
    select *
    from stg_landed
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
