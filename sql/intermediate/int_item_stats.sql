-- Per item seen in training (role = 'train' rows of mart_interactions, so held-out items gain
-- nothing from their test interactions): distinct users, most recent event, events in the last
-- 7 days, and popularity rank within its domain. "Last 7 days" are the 7 UTC calendar days ending with the run date
-- (run_date - 6 days 00:00 UTC up to run_date + 1 day 00:00 UTC, exclusive).
with bounds as (
    select
        (getvariable('run_date')::date - 6)::timestamp at time zone 'UTC' as window_start,
        (getvariable('run_date')::date + 1)::timestamp at time zone 'UTC' as window_end
),

per_item as (
    select
        item_id,
        any_value(domain) as domain,
        count(distinct user_id) as n_users,
        max(event_ts) as last_event_ts,
        count(*) filter (
            where event_ts >= b.window_start and event_ts < b.window_end
        ) as n_last_7d
    from mart_interactions
    cross join bounds as b
    where role = 'train'
    group by item_id
)

select
    item_id,
    domain,
    n_users,
    last_event_ts,
    row_number() over (partition by domain order by n_users desc, item_id) as popularity_rank,
    n_last_7d
from per_item
