-- One row per source or target item seen in training: its statistics (int_item_stats, from
-- training rows only) and its attributes from stg_items, null when none landed.
select
    s.item_id,
    s.domain,
    s.n_users,
    s.popularity_rank,
    s.last_event_ts,
    s.n_last_7d,
    i.title,
    -- the leaf of the category path: its root is usually just the domain ("Sports")
    i.categories[-1] as category,
    i.price,
    i.brand
from int_item_stats as s
left join stg_items as i using (item_id)
