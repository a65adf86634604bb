select
    to_date(ordered_at) as order_date,
    country,
    count(*) as orders,
    sum(quantity) as units,
    sum(revenue) as revenue
from {{ source('warehouse', 'fact_orders') }}
group by 1, 2
