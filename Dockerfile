# One image for every duban process: api (uvicorn), worker (python -m services.worker), migrate
# (duban migrate). On a network with no way out (docs/operations.md, "Building on an intranet"):
#   docker compose build \
#     --build-arg PYTHON_IMAGE=registry.example.gov.cn/library/python:3.11-slim \
#     --build-arg UV_INDEX_URL=https://mirror.example.gov.cn/pypi/simple
# with the certificate authorities to trust (a TLS-inspecting proxy's, the city's) as *.crt
# files in deploy/ca-certificates/.
ARG PYTHON_IMAGE=python:3.11-slim
FROM ${PYTHON_IMAGE}

# The same uv as the Makefile, so the image installs exactly what uv.lock pins.
ARG UV_VERSION=0.13.9
# A PyPI mirror (PEP 503 "simple" URL); empty: PyPI.
ARG UV_INDEX_URL=

# Our own certificate authorities, trusted by pip and uv now and by duban at run time
# (webhooks, S3: httpx reads SSL_CERT_FILE).
COPY deploy/ca-certificates/ /usr/local/share/ca-certificates/duban/
RUN update-ca-certificates >/dev/null
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt

RUN pip install --no-cache-dir --disable-pip-version-check \
        ${UV_INDEX_URL:+--index-url "$UV_INDEX_URL"} "uv==${UV_VERSION}"

ENV UV_PROJECT_ENVIRONMENT=/app/.venv \
    VIRTUAL_ENV=/app/.venv \
    UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    PYTHONUNBUFFERED=1 \
    PATH=/app/.venv/bin:$PATH

WORKDIR /app

# Dependencies first: this layer is rebuilt only when the lockfile changes. `uv sync --frozen`
# downloads from the URLs in uv.lock (PyPI's file host) whatever the index, so behind a mirror
# the same versions are installed from it instead, checked against the lockfile's hashes.
COPY pyproject.toml uv.lock README.md ./
RUN if [ -z "$UV_INDEX_URL" ]; then \
        uv sync --frozen --no-dev --no-install-project; \
    else \
        uv venv --quiet /app/.venv \
        && uv export --frozen --no-dev --no-emit-project --format requirements-txt --quiet \
            -o /tmp/requirements.txt \
        && uv pip install --require-hashes -r /tmp/requirements.txt && rm /tmp/requirements.txt; \
    fi

COPY alembic.ini ./
COPY migrations ./migrations
COPY services ./services
RUN if [ -z "$UV_INDEX_URL" ]; then uv sync --frozen --no-dev; \
    else uv pip install --no-deps -e .; fi

# Never run as root. /app/var holds generated files and, in compose, the photos' volume
# (/app/var/media); compose passes every secret.
RUN useradd --system --uid 10001 --home-dir /app duban \
    && mkdir -p /app/var/media && chown -R duban /app/var
USER duban
ENV DUBAN_DATA_DIR=/app/var \
    DUBAN_API_HOST=0.0.0.0

EXPOSE 8000
CMD ["uvicorn", "services.api.app:create_app", "--factory", "--host", "0.0.0.0", "--port", "8000", "--no-access-log", "--no-proxy-headers"]
