-- Fails (one row per offending order) when an order's amount exceeds the max_amount var.
select id, amount
from {{ ref('stg_orders') }}
where amount > {{ var("max_amount", 1000) }}
