-- Rebuild the warehouse tables from this run's raw tables, in one transaction (the task runs it with
-- autocommit off): readers see the last refresh or this one, never a mix. Running it again gives the
-- same tables. The two ? are bound to the run id and the logical date (the task's parameters).
DELETE FROM warehouse.fact_orders;
INSERT INTO warehouse.fact_orders
SELECT o.order_id, o.customer_id, o.country, o.sku, o.quantity, p.price, ROUND(p.price * o.quantity, 2), o.ordered_at
FROM raw.orders AS o
LEFT JOIN warehouse.dim_products AS p ON p.sku = o.sku;

DELETE FROM warehouse.product_activity;
INSERT INTO warehouse.product_activity
WITH skus AS (
    SELECT sku FROM warehouse.dim_products
    UNION SELECT sku FROM raw.orders
    UNION SELECT sku FROM raw.clickstream
),
events AS (
    SELECT sku,
           COUNT_IF(event_type = 'view') AS views,
           COUNT_IF(event_type = 'add_to_cart') AS add_to_carts
    FROM raw.clickstream
    GROUP BY sku
),
sales AS (
    SELECT sku, COUNT(*) AS orders, SUM(quantity) AS units, SUM(COALESCE(revenue, 0)) AS revenue
    FROM warehouse.fact_orders
    GROUP BY sku
)
SELECT s.sku, COALESCE(e.views, 0), COALESCE(e.add_to_carts, 0), COALESCE(a.orders, 0), COALESCE(a.units, 0),
       COALESCE(a.revenue, 0)
FROM skus AS s
LEFT JOIN events AS e ON e.sku = s.sku
LEFT JOIN sales AS a ON a.sku = s.sku;

INSERT INTO warehouse.loads
SELECT ?, ?, CURRENT_TIMESTAMP(),
       (SELECT COUNT(*) FROM raw.orders), (SELECT COUNT(*) FROM raw.products), (SELECT COUNT(*) FROM raw.clickstream),
       (SELECT COUNT(*) > 0 FROM raw.products);
