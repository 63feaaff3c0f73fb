# One image for every duban process: api (uvicorn), worker (python -m services.worker), migrate (duban migrate).
FROM python:3.11-slim

# The same uv as the Makefile, so the image installs exactly what uv.lock pins.
ARG UV_VERSION=0.13.9
RUN pip install --no-cache-dir --disable-pip-version-check "uv==${UV_VERSION}"

ENV UV_PROJECT_ENVIRONMENT=/app/.venv \
    UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    PYTHONUNBUFFERED=1 \
    PATH=/app/.venv/bin:$PATH

WORKDIR /app

# Dependencies first: this layer is rebuilt only when the lockfile changes.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project

COPY alembic.ini ./
COPY migrations ./migrations
COPY services ./services
RUN uv sync --frozen --no-dev

# Never run as root; the data dir holds only generated files (compose passes every secret).
RUN useradd --system --uid 10001 --home-dir /app duban \
    && mkdir -p /app/var && chown duban /app/var
USER duban
ENV DUBAN_DATA_DIR=/app/var \
    DUBAN_API_HOST=0.0.0.0

EXPOSE 8000
CMD ["uvicorn", "services.api.app:create_app", "--factory", "--host", "0.0.0.0", "--port", "8000", "--no-access-log", "--no-proxy-headers"]
