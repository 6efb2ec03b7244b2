-- The seeded user split of the evaluation protocol (docs/architecture.md). Among users
-- present in both domains, a hash of (seed, user) picks cold test users (all target rows
-- withheld) and cold validation users; everyone else trains. md5 keeps the split identical across DuckDB versions and machines.
with users as (
    select user_id, is_overlap
    from int_user_domains
),

hashed as (
    select
        user_id,
        is_overlap,
        (md5_number(getvariable('split_seed')::varchar || ':' || user_id) >> 96)::bigint
            / 4294967296.0 as draw
    from users
)

select
    user_id,
    getvariable('split_seed')::bigint as split_seed,
    case
        when not is_overlap then 'train'
        when draw < getvariable('cold_test_frac') then 'cold_test'
        when draw < getvariable('cold_test_frac') + getvariable('cold_val_frac') then 'cold_val'
        else 'train'
    end as user_split
from hashed
