-- Per user and domain: the most recent `history_len` training items, newest first.
-- Built from the train rows of mart_interactions (so after it in the model order): held-out
-- evaluation truth (warm_test, cold_val, cold_test) never enters a history.
select
    user_id,
    domain,
    list(item_id order by event_ts desc, item_id)[1:getvariable('history_len')] as history,
    count(*) as n_items,
    max(event_ts) as last_event_ts
from mart_interactions
where role = 'train'
group by user_id, domain
