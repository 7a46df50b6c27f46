"""Inventory service: the catalog's stock, reserved per order, then committed or released; the
catalog itself, published as product events (catalog.py)."""
