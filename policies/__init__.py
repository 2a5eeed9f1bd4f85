"""Casbin model, default policy and the per-request authorizer."""
