# kubeinit service image. Build: docker build -t kubeinit .
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /srv/kubeinit

# Dependencies first, in their own layer: only pyproject.toml changes invalidate it.
COPY pyproject.toml ./
RUN python3 -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml','rb'))['project']['dependencies']))" >requirements.txt \
 && pip install -r requirements.txt \
 && useradd --system --uid 10001 --no-create-home kubeinit

# The service runs from this directory: app/ beside templates/.
COPY app/ app/
COPY templates/ templates/

USER 10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=5s \
  CMD python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"
CMD ["uvicorn", "app.main:app", "--host", "0.0.0.0", "--port", "8000"]
