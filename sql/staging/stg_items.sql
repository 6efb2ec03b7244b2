-- Item attributes of the two configured domains from every landing partition up to the run
-- date; an item landed more than once keeps its latest ingest (ties: by source name).
--
-- read_parquet fails on an empty file list, and a glob cannot be made optional without
-- formatting SQL. So `items_files` is a list computed in Python (crossrec.features.build): the
-- landed items files, or, when there are none, only `<data_dir>/tmp/empty-items.parquet`, a
-- zero-row file with the ITEMS schema written on demand. Either way this model binds and has the same types.
-- ingest_date is parsed from the path (not hive_partitioning) because the placeholder has none.
with landed as (
    select
        cast(item_id as varchar) as item_id,
        cast(domain as varchar) as domain,
        cast(title as varchar) as title,
        cast(categories as varchar[]) as categories,
        cast(price as float) as price,
        cast(brand as varchar) as brand,
        cast(source as varchar) as source,
        cast(
            nullif(regexp_extract(filename, 'ingest_date=([0-9]{4}-[0-9]{2}-[0-9]{2})', 1), '')
            as date
        ) as ingest_date
    from read_parquet(getvariable('items_files'), filename = true, union_by_name = true)
),

in_scope as (
    select *
    from landed
    where ingest_date <= getvariable('run_date')
      and domain in (getvariable('source_domain'), getvariable('target_domain'))
),

ranked as (
    select
        *,
        row_number() over (
            partition by item_id order by ingest_date desc, source
        ) as item_rank
    from in_scope
)

select item_id, domain, title, categories, price, brand, source, ingest_date
from ranked
where item_rank = 1
