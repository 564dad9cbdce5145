"""Subscribers: the models, adding and importing them, consent, suppression, GDPR requests."""
