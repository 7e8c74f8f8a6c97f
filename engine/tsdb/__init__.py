"""Time-series storage: an in-memory head over persisted compressed chunks."""
