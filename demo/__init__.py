"""The demo booking platform: small real HTTP services, a traffic generator and its failure episodes.

It imports aiohttp and prometheus-client, so it lives beside ``engine/`` rather than in it; it talks
to a metrics-service server only over HTTP, like any other client.
"""
