# etmi-fhir: the API and FHIR façade under gunicorn, as a non-root user.
# Build from a checkout after `scripts/r4-definitions` has filled .cache/r4 (the validator's FHIR R4
# definitions; the test suite fetches the same files):   docker build -t etmi-fhir .
# Run: docker run -p 8000:8000 -e ETMI_AUTH_ISSUER=https://as.example -e ETMI_AUTH_AUDIENCE=https://etmi.example/fhir \
#        -e ETMI_PUBLIC_BASE_URL=https://etmi.example etmi-fhir
# (without ETMI_AUTH_AUDIENCE the service refuses to start; ETMI_AUTH_MODE=none answers loopback clients only)
# Dependencies come from requirements.lock, every file checked against its hash (scripts/lock makes it).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md requirements.lock ./
COPY mappings ./mappings
COPY service ./service
COPY profiles/package ./profiles/package
COPY .cache/r4 ./r4

ENV ETMI_DATABASE_URL=sqlite:////app/var/etmi.db \
    ETMI_PROFILES_DIR=/app/profiles/package \
    ETMI_R4_DEFINITIONS=/app/r4

# install the locked dependencies (hashes required), the service without resolving anything else,
# pre-build the validator's definitions index, then drop root
RUN pip install --require-hashes -r requirements.lock \
 && pip install --no-deps --no-build-isolation . \
 && python -c "from service.config import Settings; from service.validation.definitions import load_core; load_core(Settings.from_env().r4_definitions)" \
 && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin etmi \
 && mkdir -p /app/var \
 && chown -R etmi /app/var

USER etmi
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"]

# migrations run at worker start (serialised: SQLite write lock / PostgreSQL advisory lock)
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "--workers", "2", "--worker-class", "gthread", "--threads", "4", \
     "--timeout", "60", "service:create_app()"]
