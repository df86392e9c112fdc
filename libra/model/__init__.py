"""Pure domain model: values, instruments, orders, fills, positions. No I/O, no asyncio."""
