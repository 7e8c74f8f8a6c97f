"""Several replicas as one service through Redis (REDIS_URL): leadership and membership."""
