"""Payment service: charges an order once through a (simulated) gateway and records the outcome."""
