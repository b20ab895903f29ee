# One image for every Reclaim role: init (create tables, build new projections) and api.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 RECLAIM_DATA_DIR=/data
WORKDIR /app
# The dossier PDF embeds these fonts (infrastructure/dossier.py): DejaVu for the text, Droid Sans
# Fallback for Chinese, Japanese and Korean, Symbola for emoji and symbols.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        fonts-dejavu-core fonts-droid-fallback fonts-symbola \
    && rm -rf /var/lib/apt/lists/*
# Exactly the versions in uv.lock (the ones the tests ran), installed by the same pinned uv
# that dev.py uses; then Reclaim itself with its templates and static files (package data).
COPY pyproject.toml uv.lock README.md ./
RUN pip install --no-cache-dir uv==0.13.9 \
    && uv export --locked --no-dev --no-emit-project -o /tmp/requirements.txt \
    && uv pip install --system --no-cache -r /tmp/requirements.txt
COPY domain ./domain
COPY infrastructure ./infrastructure
COPY api ./api
RUN uv pip install --system --no-cache --no-deps . && useradd --create-home reclaim \
    && mkdir -p /data && chown reclaim /data
USER reclaim
EXPOSE 8000
CMD ["reclaim", "serve", "--host", "0.0.0.0", "--port", "8000"]
