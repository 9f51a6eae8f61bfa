# One image for the backend (API + ingestion) and the edge agent; the command picks the role.
FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 UV_LINK_MODE=copy UV_COMPILE_BYTECODE=1
RUN pip install --no-cache-dir uv==0.13.8
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
COPY protocols ./protocols
COPY backend ./backend
COPY edge_agent ./edge_agent
RUN uv sync --locked --no-dev --extra backend --extra agent
ENV PATH="/app/.venv/bin:$PATH" METERLINE_DATA_DIR=/data
RUN useradd --system --uid 10001 meterline && mkdir /data && chown meterline /data
USER meterline
EXPOSE 8000
CMD ["meterline", "serve"]
