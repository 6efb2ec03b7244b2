-- Interactions of the two configured domains from every landing partition up to the run date
-- (stg_landed), plus the feedback loop: a click or a purchase of a served recommendation
-- (stg_clicks) is a positive target-domain interaction, dated by the event (source 'clicks').
-- Click logs carry the user's own item ids (as published); inside, an item is keyed by its
-- domain ('<domain>:<id>', crossrec/schemas.py::item_key).
-- One row per (user, item): a pair landed twice (re-collection, overlapping exports, a click on
-- an item the user already had) counts once, at its earliest event.
with landed as (
    select user_id, item_id, domain, event_ts, rating, source, ingest_date
    from stg_landed
    where ingest_date <= getvariable('run_date')
      and domain in (getvariable('source_domain'), getvariable('target_domain'))
),

clicked as (
    select
        user_id,
        getvariable('target_domain')::varchar || ':' || item_id as item_id,
        getvariable('target_domain')::varchar as domain,
        event_ts,
        cast(null as float) as rating,
        'clicks' as source,
        event_date as ingest_date
    from stg_clicks
    where event_type in ('click', 'purchase')
),

in_scope as (
    select * from landed
    union all
    select * from clicked
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
