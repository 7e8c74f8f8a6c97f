"""Headless aiohttp server: REST API, /metrics, probes. A thin skin over the engine."""
