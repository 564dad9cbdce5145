"""Who may use the operator's console: API keys (and, later, the dashboard's users).

models  the api_key table
keys    scopes, creating a key (shown once, stored as a digest), checking one, revoking
"""
