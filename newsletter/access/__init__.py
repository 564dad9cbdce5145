"""Who may use the operator's console: API keys for programs, users for the dashboard.

models    the api_key, api_request, admin_user, admin_session, admin_audit and admin_request
          tables
keys      scopes, creating a key (shown once, stored as a digest), checking one, revoking
users     roles, adding a user (argon2id password hash), logging in (with TOTP), removing
sessions  the dashboard's server-side sessions and their CSRF tokens
audit     who changed what, and when
idempotency  requests carried out once: the API's Idempotency-Key, the dashboard's one-time forms
"""
