select
    a.sku,
    p.name,
    p.category,
    a.views,
    a.add_to_carts,
    a.orders,
    a.units,
    a.revenue,
    case when a.views > 0 then round(a.orders / a.views, 3) end as orders_per_view
from {{ source('warehouse', 'product_activity') }} as a
left join {{ source('warehouse', 'dim_products') }} as p on p.sku = a.sku
