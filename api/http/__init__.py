"""The HTTP API and the case book: the FastAPI app, its routes, schemas and problems."""
