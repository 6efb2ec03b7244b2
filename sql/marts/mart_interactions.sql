-- Every interaction with the role it plays: training signal, or evaluation truth.
-- Cold users lose all target rows; other users with at least two target rows hold out their
-- last one (ties broken by a seeded hash, so sources without timestamps stay reproducible).
with labelled as (
    select
        i.user_id,
        i.item_id,
        i.domain,
        i.event_ts,
        s.user_split
    from stg_interactions as i
    inner join mart_eval_split as s using (user_id)
),

target_order as (
    select
        user_id,
        item_id,
        row_number() over (
            partition by user_id
            order by event_ts desc, md5(getvariable('split_seed')::varchar || ':' || item_id)
        ) as recency_rank,
        count(*) over (partition by user_id) as n_target
    from labelled
    where domain = getvariable('target_domain') and user_split = 'train'
)

select
    l.user_id,
    l.item_id,
    l.domain,
    l.event_ts,
    case
        when l.domain = getvariable('target_domain') and l.user_split <> 'train' then l.user_split
        when t.recency_rank = 1 and t.n_target >= 2 then 'warm_test'
        else 'train'
    end as role
from labelled as l
left join target_order as t using (user_id, item_id)
