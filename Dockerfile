# syntax=docker/dockerfile:1
# Build: dependencies and the project installed into a virtualenv, once, at build time.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY . .
RUN pip install .

# Run: the virtualenv only, as an unprivileged user; production mode unless told otherwise.
FROM python:3.11-slim
RUN useradd --system --uid 10001 --create-home --home-dir /app microspace
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    MICROSPACE_DEV=false \
    MICROSPACE_HOST=0.0.0.0 \
    MICROSPACE_PORT=8000
WORKDIR /app
USER 10001
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2).status != 200)"]
CMD ["microspace", "serve", "--no-migrate"]
