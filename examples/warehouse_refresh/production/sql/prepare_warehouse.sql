-- Schemas and tables of the warehouse (created once), and the raw tables emptied for this run's loads.
CREATE SCHEMA IF NOT EXISTS raw;
CREATE SCHEMA IF NOT EXISTS warehouse;
CREATE TABLE IF NOT EXISTS raw.orders (
    order_id INTEGER, customer_id INTEGER, country VARCHAR, sku VARCHAR, quantity INTEGER, ordered_at TIMESTAMP_TZ
);
CREATE TABLE IF NOT EXISTS raw.products (v VARIANT);  -- one JSON record of the products API per row
CREATE TABLE IF NOT EXISTS raw.clickstream (
    event_id VARCHAR, event_time TIMESTAMP_TZ, session_id VARCHAR, customer_id INTEGER, sku VARCHAR, event_type VARCHAR
);
CREATE TABLE IF NOT EXISTS warehouse.dim_products (
    sku VARCHAR, name VARCHAR, category VARCHAR, price NUMBER(10, 2), refreshed_at TIMESTAMP_TZ
);
CREATE TABLE IF NOT EXISTS warehouse.fact_orders (
    order_id INTEGER, customer_id INTEGER, country VARCHAR, sku VARCHAR, quantity INTEGER,
    unit_price NUMBER(10, 2), revenue NUMBER(12, 2), ordered_at TIMESTAMP_TZ
);
CREATE TABLE IF NOT EXISTS warehouse.product_activity (
    sku VARCHAR, views INTEGER, add_to_carts INTEGER, orders INTEGER, units INTEGER, revenue NUMBER(12, 2)
);
CREATE TABLE IF NOT EXISTS warehouse.loads (
    run_id VARCHAR, logical_date DATE, loaded_at TIMESTAMP_TZ, orders INTEGER, products INTEGER, events INTEGER,
    products_refreshed BOOLEAN
);
TRUNCATE TABLE raw.orders;
TRUNCATE TABLE raw.products;
TRUNCATE TABLE raw.clickstream;
