"""Inventory service: the catalog's stock, reserved per order, then committed or released."""
