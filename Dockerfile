# heed: a static, non-root image with the database on a volume.
#   docker build -t heed .
#   docker run -v heed-data:/data -e HEED_CONFIG=/data/heed.yaml heed
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -tags goolm -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/heed ./cmd/heed

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/heed /heed
VOLUME /data
WORKDIR /data
ENV HEED_CONFIG=""
USER nonroot:nonroot
# Healthy while a heed run renews its lease on the database.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s CMD ["/heed", "healthcheck", "--db", "/data/heed.db"]
ENTRYPOINT ["/heed"]
CMD ["run", "--db", "/data/heed.db"]
