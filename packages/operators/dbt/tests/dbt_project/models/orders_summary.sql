{{ config(materialized="table") }}
{% if var("break_summary", false) %}
select no_such_column from {{ ref('stg_orders') }}
{% else %}
select status, count(*) as orders, sum(amount) as revenue
from {{ ref('stg_orders') }}
group by status
{% endif %}
