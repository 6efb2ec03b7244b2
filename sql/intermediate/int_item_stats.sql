-- Per item: distinct users, most recent event, and popularity rank within its domain.
with per_item as (
    select
        item_id,
        any_value(domain) as domain,
        count(distinct user_id) as n_users,
        max(event_ts) as last_event_ts
    from stg_interactions
    group by item_id
)

select
    item_id,
    domain,
    n_users,
    last_event_ts,
    row_number() over (partition by domain order by n_users desc, item_id) as popularity_rank
from per_item
