"""REST API: thin FastAPI routers that parse, authorize and call one service."""
