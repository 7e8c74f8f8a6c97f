"""Health checks: definitions (model), one checker module per type (checkers/), the state machine
(state), the scheduler (scheduler), history on disk (db), and the part the Engine owns (service)."""
