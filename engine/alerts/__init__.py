"""Alert life beyond Prometheus: instances, acknowledgements, manual resolution, silences, history."""
