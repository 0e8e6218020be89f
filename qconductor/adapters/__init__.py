"""Everything hardware-specific: instrument adapters and backends."""
