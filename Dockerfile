# Base images pinned by digest, so a re-pointed tag cannot change what is built: the digest
# is python:3.11-slim's (Python 3.11.16) multi-platform index. Update both lines together.
# Build: dependencies from the lock only, each file checked against its hash, then the
# project itself without dependencies, into a virtualenv, once, at build time.
FROM python:3.11-slim@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7 AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# the lock alone first: a code change reuses this layer
COPY requirements.lock .
RUN pip install --require-hashes -r requirements.lock
COPY . .
# the lock holds setuptools (the build backend), so nothing is fetched unhashed here
RUN pip install --no-deps --no-build-isolation . && pip check

# Run: the virtualenv only, as an unprivileged user; production mode unless told otherwise.
FROM python:3.11-slim@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7
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
# the API's; the worker serves no HTTP and has its own (docker-compose.yml)
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2).status != 200)"]
CMD ["microspace", "serve", "--no-migrate"]
