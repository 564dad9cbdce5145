"""Delivery: messages built from rendered output, and the transports that carry them."""
