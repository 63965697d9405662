# snapconf: conferencing media server. Media needs the UDP port published as is
# (no port remapping) and, behind NAT, SNAPCONF_MEDIA_ANNOUNCED set to the public IP:
#   docker build -t snapconf .
#   docker run -p 8080:8080 -p 10000:10000/udp -e SNAPCONF_MEDIA_ANNOUNCED=203.0.113.10 snapconf
FROM python:3.11-slim-bookworm

RUN apt-get update \
    && apt-get install -y --no-install-recommends libopus0 \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --system --home /srv/snapconf snapconf
WORKDIR /srv/snapconf
COPY pyproject.toml README.md config.sample.toml ./
COPY src ./src
RUN pip install --no-cache-dir . && rm -rf src

USER snapconf
# Listening on all addresses: the development sign-in stays off (its default); organisers
# sign in with OpenID Connect (SNAPCONF_ORGANISERS_OIDC_*). Set SNAPCONF_API_PUBLIC_URL to
# the https:// address users reach, for links, cookies and the WebSocket origin check.
ENV SNAPCONF_HTTP_HOST=0.0.0.0 \
    SNAPCONF_MEDIA_LISTEN=0.0.0.0
EXPOSE 8080/tcp 10000/udp
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz')"
CMD ["snapconf", "serve"]
