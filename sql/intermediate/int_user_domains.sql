-- Per user: how much history they have in each domain, and whether they are in both
-- (only overlapping users can be withheld for cold-start evaluation).
with per_user as (
    select
        user_id,
        count(*) filter (where domain = getvariable('source_domain')) as n_source,
        count(*) filter (where domain = getvariable('target_domain')) as n_target
    from stg_interactions
    group by user_id
)

select
    user_id,
    n_source,
    n_target,
    n_source > 0 and n_target > 0 as is_overlap
from per_user
