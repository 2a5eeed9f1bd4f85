"""The privacy engine: subject requests, export, erasure and retention.

It reads the personal-data map (`models.pii`) and the erasure declarations on the models
(`models.privacy.SubjectLink`); it keeps no list of columns of its own.
"""
