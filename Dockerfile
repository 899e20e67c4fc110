# geo_service API image. The database is a separate PostGIS (see docker-compose.yml); on start the app
# waits for it, applies the migrations, loads the bundled layers into an empty database, then serves.
FROM python:3.11-slim-bookworm

RUN apt-get update \
 && apt-get install -y --no-install-recommends fonts-thai-tlwg nodejs npm \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 geo

WORKDIR /app
COPY pyproject.toml README.md ./
COPY geo_service ./geo_service
# The maps' pinned Leaflet/plugin files (served by the service); an editable install keeps them beside the code.
RUN cd geo_service/web/vendor && npm ci --ignore-scripts --no-audit --no-fund \
 && cd /app && pip install --no-cache-dir -e .
COPY layers ./layers

ENV GEO_SERVICE_LAYERS_DIR=/app/layers \
    GEO_SERVICE_DATA_DIR=/home/geo/var \
    PYTHONUNBUFFERED=1
# the raster store shared by several API replicas (docker-compose.yml mounts a volume here, owned by geo)
RUN mkdir -p /srv/rasters && chown geo:geo /srv/rasters
USER geo
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health').status != 200)"
CMD ["geo-service", "serve", "--host", "0.0.0.0", "--port", "8000"]
