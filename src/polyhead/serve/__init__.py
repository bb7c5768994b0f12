"""A local inference server: FastAPI app, dynamic micro-batching, uvicorn runner."""
