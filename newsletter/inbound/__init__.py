"""Closing the loop: what comes back after a send (bounces, complaints, unsubscribes by mail)."""
