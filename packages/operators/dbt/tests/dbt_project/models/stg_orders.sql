-- Orders of one day when the run passes a partition (a dbt var), else every order.
select
    id,
    status,
    amount,
    order_date,
    '{{ var("partition", "all") }}' as loaded_partition
from {{ ref('raw_orders') }}
{% if var("partition", none) is not none %}
where order_date = '{{ var("partition") }}'
{% endif %}
