# kubeinit service image: see "Run it for your fleet" in README.md.
#   docker build -t kubeinit .
#   docker run --rm --read-only -p 8000:8000 kubeinit
# The base is an exact release; pin its digest as well (python:3.11.14-slim-bookworm@sha256:...) for
# byte-reproducible builds. scripts/lock reads the Python version from this line.
FROM python:3.11.14-slim-bookworm

LABEL org.opencontainers.image.title="kubeinit" \
      org.opencontainers.image.description="Renders the kubernetes-init installer" \
      org.opencontainers.image.licenses="Apache-2.0"

# No bytecode written at run time (the root file system may be read-only), logs unbuffered.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /srv/kubeinit

# Dependencies in their own layer, pinned by scripts/lock: only a new requirements.lock rebuilds it.
COPY requirements.lock ./
RUN pip install --no-deps -r requirements.lock \
 && pip check \
 && useradd --system --uid 10001 --user-group --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin kubeinit

# The service runs from this directory: app/ beside templates/ (rendering.py finds them so).
# Owned by root and compiled now: the service user cannot change them and needs to write nothing.
COPY app/ app/
COPY templates/ templates/
RUN python3 -m compileall -q app

# uvicorn reads WEB_CONCURRENCY (workers) and UVICORN_* (its flags) from the environment.
# Proxy headers are the app's business: it believes X-Forwarded-* only from KUBEINIT_TRUSTED_PROXIES.
# Keep-alive outlives the usual proxy upstream keep-alive (60 s), so a proxy never reuses a closed connection.
# uvloop and httptools, the latter bounded in its request head (app/server.py); the app writes its own
# JSON access log; no Server header. One worker a pod: scale by replicas (set WEB_CONCURRENCY to the cores elsewhere).
ENV WEB_CONCURRENCY=1 \
    UVICORN_HOST=0.0.0.0 \
    UVICORN_PORT=8000 \
    UVICORN_LOOP=uvloop \
    UVICORN_HTTP=app.http.server:HttpProtocol \
    UVICORN_ACCESS_LOG=false \
    UVICORN_PROXY_HEADERS=false \
    UVICORN_SERVER_HEADER=false \
    UVICORN_TIMEOUT_KEEP_ALIVE=75 \
    UVICORN_TIMEOUT_GRACEFUL_SHUTDOWN=20

USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
  CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ['UVICORN_PORT'], timeout=2)"]
CMD ["uvicorn", "app.main:app"]
