-- The product catalogue: this run's API records merged into dim_products. When the API failed (the
-- degraded path) raw.products is empty and the last known catalogue stays as it is.
MERGE INTO warehouse.dim_products AS d
USING (
    SELECT v:sku::VARCHAR AS sku, v:name::VARCHAR AS name, v:category::VARCHAR AS category,
           v:price::NUMBER(10, 2) AS price
    FROM raw.products
) AS p
ON d.sku = p.sku
WHEN MATCHED THEN UPDATE SET name = p.name, category = p.category, price = p.price, refreshed_at = CURRENT_TIMESTAMP()
WHEN NOT MATCHED THEN INSERT (sku, name, category, price, refreshed_at)
    VALUES (p.sku, p.name, p.category, p.price, CURRENT_TIMESTAMP());
