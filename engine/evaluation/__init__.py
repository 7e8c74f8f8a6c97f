"""Rule evaluation: groups on their own schedule, recording and alerting rules as Prometheus runs them."""
