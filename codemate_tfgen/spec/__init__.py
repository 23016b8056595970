"""Stage 1: read a spec (load: YAML, extends, locations) and check it (validate: the JSON Schema and
the semantic rules; crosscheck: what environments share; schedule: AWS cron expressions)."""
