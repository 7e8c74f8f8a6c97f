"""Scraping targets the Prometheus way: config, discovery, relabelling, the scrape loop, target state."""
