-- The shop's orders with each customer's country, from the operational PostgreSQL database.
SELECT o.order_id, o.customer_id, c.country, o.sku, o.quantity, o.ordered_at
FROM orders AS o
LEFT JOIN customers AS c ON c.customer_id = o.customer_id
ORDER BY o.order_id
