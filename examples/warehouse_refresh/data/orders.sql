-- Seed for the example's source database (orders.db is built from this file on first run).
CREATE TABLE customers (customer_id INTEGER PRIMARY KEY, name TEXT NOT NULL, country TEXT NOT NULL);
CREATE TABLE orders (
  order_id INTEGER PRIMARY KEY,
  customer_id INTEGER NOT NULL REFERENCES customers (customer_id),
  sku TEXT NOT NULL,
  quantity INTEGER NOT NULL,
  ordered_at TEXT NOT NULL
);
INSERT INTO customers VALUES
  (1, 'Ada', 'FR'),
  (2, 'Bo', 'SE'),
  (3, 'Chen', 'DE'),
  (4, 'Dara', 'IE'),
  (5, 'Eli', 'NL'),
  (6, 'Farah', 'FR');
INSERT INTO orders VALUES
  (1001, 4, 'P007', 1, '2026-01-01T08:05:00Z'),
  (1002, 4, 'P001', 3, '2026-01-01T09:35:00Z'),
  (1003, 6, 'P001', 3, '2026-01-01T11:40:00Z'),
  (1004, 2, 'P009', 1, '2026-01-01T12:26:00Z'),
  (1005, 5, 'P007', 2, '2026-01-01T15:43:00Z'),
  (1006, 4, 'P001', 1, '2026-01-01T17:07:00Z'),
  (1007, 6, 'P004', 1, '2026-01-01T20:11:00Z'),
  (1008, 1, 'P009', 3, '2026-01-02T08:42:00Z'),
  (1009, 1, 'P005', 2, '2026-01-02T09:53:00Z'),
  (1010, 6, 'P001', 1, '2026-01-02T10:25:00Z'),
  (1011, 2, 'P007', 2, '2026-01-02T10:47:00Z'),
  (1012, 3, 'P003', 2, '2026-01-02T10:48:00Z'),
  (1013, 1, 'P002', 3, '2026-01-02T12:38:00Z'),
  (1014, 3, 'P008', 3, '2026-01-02T13:44:00Z'),
  (1015, 4, 'P006', 2, '2026-01-02T17:59:00Z'),
  (1016, 1, 'P008', 2, '2026-01-02T18:22:00Z'),
  (1017, 5, 'P001', 3, '2026-01-03T09:23:00Z'),
  (1018, 4, 'P006', 3, '2026-01-03T12:33:00Z'),
  (1019, 6, 'P003', 1, '2026-01-03T12:35:00Z'),
  (1020, 2, 'P001', 3, '2026-01-03T14:03:00Z'),
  (1021, 2, 'P006', 1, '2026-01-03T17:40:00Z'),
  (1022, 1, 'P005', 3, '2026-01-03T18:04:00Z'),
  (1023, 4, 'P005', 3, '2026-01-03T18:52:00Z'),
  (1024, 5, 'P001', 3, '2026-01-03T19:04:00Z');
