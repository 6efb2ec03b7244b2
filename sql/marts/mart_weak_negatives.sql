-- Weak negatives from the feedback loop: target items a training user was shown (an impression
-- of a served list) and neither clicked nor bought, and does not otherwise have. Fine-tuning can
-- rank them below the user's positives (train.weak_negative_weight). Only users of the train
-- split: the cold users' target-domain behaviour stays out of training. Click logs carry the
-- user's own item ids; inside, items are keyed '<target domain>:<id>'.
with keyed as (
    select user_id, getvariable('target_domain')::varchar || ':' || item_id as item_id,
        event_type
    from stg_clicks
),

shown as (
    select user_id, item_id, count(*) as impressions
    from keyed
    where event_type = 'impression'
    group by user_id, item_id
),

engaged as (
    select distinct user_id, item_id
    from keyed
    where event_type in ('click', 'purchase')
)

select s.user_id, s.item_id, s.impressions
from shown as s
inner join mart_eval_split as split
    on s.user_id = split.user_id and split.user_split = 'train'
where not exists (
    select 1 from engaged as e where e.user_id = s.user_id and e.item_id = s.item_id
)
and not exists (
    select 1 from stg_interactions as i where i.user_id = s.user_id and i.item_id = s.item_id
)
order by s.user_id, s.item_id
