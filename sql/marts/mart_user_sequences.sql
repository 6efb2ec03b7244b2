-- One row per user: their source- and target-domain training histories (newest first, at most
-- history_len items each; empty when they have none) and their evaluation split.
with histories as (
    select
        user_id,
        any_value(history) filter (where domain = getvariable('source_domain')) as source_history,
        any_value(history) filter (where domain = getvariable('target_domain')) as target_history
    from int_user_histories
    group by user_id
)

select
    s.user_id,
    s.user_split,
    coalesce(h.source_history, []::varchar[]) as source_history,
    coalesce(h.target_history, []::varchar[]) as target_history
from mart_eval_split as s
left join histories as h using (user_id)
