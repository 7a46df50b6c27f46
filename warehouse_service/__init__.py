"""Warehouse: turns order.confirmed into a shipment, dispatches it later, announces shipment.dispatched."""
