#!/usr/bin/env bash
# `make image`: build the job image of containers/Dockerfile with podman, on a Debian 12
# base made here with mmdebstrap (no image registry needed), and save it as an OCI archive.
#
#   scripts/build-image.sh            # build (or say it is up to date), print sizes
#
# Writes build/image/:
#   debian-bookworm.tar      the base root file system (mmdebstrap), made once
#   base.digest              the base image's digest, pinned into the build (BASE_IMAGE)
#   asteroid-ml-<sha>.oci.tar  the image, `podman save --format oci-archive`
#   layers.tsv               size of every layer, with the instruction that made it
# The image is tagged asteroid-ml:<git short sha> and labelled with the hash of every file
# the build reads; a second call with the same inputs does nothing.
#
# The podman settings below are this build machine's, not the image's: a user's Docker or
# podman needs none of them (docs/profiles.md, "The job image").
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=$REPO/build/image
log() { printf '[image] %s\n' "$*" >&2; }
cd "$REPO"
mkdir -p "$OUT"

# podman builds and runs the image, mmdebstrap makes the base, runc runs the containers
# (all from Debian 12); installed when missing and root, as scripts/bootstrap.sh does.
missing=()
for pkg in podman mmdebstrap runc uidmap; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    log "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    log "needs ${missing[*]} (as root: apt-get install ${missing[*]})"; exit 1
  fi
fi

# --- podman settings of this machine ---------------------------------------------------
# runc: crun fails on this machine's mixed cgroup set-up.
# ulimits: podman's defaults (nofile 1048576) cannot be raised here; nofile is the host's
# hard limit and nproc stays within what the kernel grants.
# TLS: pip inside the build reaches PyPI only through the host's CA bundle. It is mounted
# at /run/host-ca.crt with a pip.conf naming it (mounting it over the image's own bundle
# breaks apt). The mounts exist only while a RUN step runs, so no layer keeps them.
# Wheels: the host's wheel folder (PIP_FIND_LINKS, e.g. the CPU build of torch) is mounted
# read-only for pip to prefer; without it pip takes PyPI's torch, a CUDA build of several GB.
nofile=$(ulimit -Hn)
nproc=$(ulimit -Hu); [ "$nproc" = unlimited ] || [ "$nproc" -gt 32768 ] && nproc=32768
cat > "$OUT/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
[engine]
runtime = "runc"
EOF
export CONTAINERS_CONF=$OUT/containers.conf
host_ca=${HOST_CA:-/etc/ssl/certs/ca-certificates.crt}
wheels=${PIP_FIND_LINKS:-/opt/wheels}
mounts=()
pipconf="[global]"
if [ -f "$host_ca" ]; then
  mounts+=(-v "$host_ca:/run/host-ca.crt:ro"); pipconf+=$'\ncert = /run/host-ca.crt'
fi
if [ -d "$wheels" ]; then
  mounts+=(-v "$wheels:/run/host-wheels:ro"); pipconf+=$'\nfind-links = /run/host-wheels'
fi
printf '%s\n' "$pipconf" > "$OUT/pip.conf"
mounts+=(-v "$OUT/pip.conf:/etc/pip.conf:ro")

# --- the base: Debian 12 from a Debian mirror (DEBIAN_MIRROR), imported as debian:bookworm-slim
BASE=localhost/debian:bookworm-slim
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
if ! podman image exists "$BASE"; then
  if [ ! -s "$OUT/debian-bookworm.tar" ]; then
    log "making the Debian 12 base with mmdebstrap from $MIRROR (about 80 s)"
    # as Debian's own -slim images: no manuals, docs (copyright files kept) or locales;
    # the dpkg settings stay in the base, so the image's own packages follow them too
    mmdebstrap --quiet --format=tar --variant=minbase --include=ca-certificates \
      --aptopt='APT::Install-Recommends "false"' \
      --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
      --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
      --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias' \
      --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin' \
      bookworm "$OUT/debian-bookworm.tar.part" \
      "deb $MIRROR bookworm main" "deb $MIRROR bookworm-updates main" \
      "deb ${MIRROR%/debian}/debian-security bookworm-security main"
    mv "$OUT/debian-bookworm.tar.part" "$OUT/debian-bookworm.tar"
  fi
  podman import --quiet --change 'CMD ["bash"]' "$OUT/debian-bookworm.tar" "$BASE" >/dev/null
fi
base_digest=$(podman image inspect --format '{{.Digest}}' "$BASE")
echo "$base_digest" > "$OUT/base.digest"

# --- the image ---------------------------------------------------------------------------
sha=$(git rev-parse --short HEAD)
TAG=localhost/asteroid-ml:$sha
inputs=$( { cat containers/Dockerfile containers/Dockerfile.dockerignore pyproject.toml README.md \
             scripts/bootstrap.sh requirements/*; git ls-files -s src config workflow resources; git diff HEAD -- src config workflow resources;
           echo "$base_digest"; } | sha256sum | cut -d' ' -f1)
archive=$OUT/asteroid-ml-$sha.oci.tar
if podman image exists "$TAG" \
   && [ "$(podman image inspect --format '{{index .Labels "asteroid-ml.inputs"}}' "$TAG")" = "$inputs" ] \
   && [ -s "$archive" ]; then
  log "asteroid-ml:$sha is up to date (inputs $inputs)"
else
  log "building asteroid-ml:$sha on $BASE@$base_digest"
  podman build --pull=never --ignorefile containers/Dockerfile.dockerignore \
    -f containers/Dockerfile "${mounts[@]}" \
    --build-arg BASE_IMAGE="$BASE@$base_digest" \
    --label "asteroid-ml.inputs=$inputs" \
    --label "org.opencontainers.image.revision=$(git rev-parse HEAD)" \
    --label "org.opencontainers.image.base.name=debian:bookworm-slim" \
    --label "org.opencontainers.image.base.digest=$base_digest" \
    -t "$TAG" .
  rm -f "$OUT"/asteroid-ml-*.oci.tar
  podman save --quiet --format oci-archive -o "$archive.part" "$TAG"
  mv "$archive.part" "$archive"
fi

# --- sizes -----------------------------------------------------------------------------
podman history --format '{{.Size}}\t{{.CreatedBy}}' "$TAG" | cut -c1-160 > "$OUT/layers.tsv"
size=$(podman image inspect --format '{{.Size}}' "$TAG")
log "layers (size, instruction):"
sed 's/^/[image]   /' "$OUT/layers.tsv" >&2
awk -v t="asteroid-ml:$sha" -v s="$size" -v a="$archive" 'BEGIN { printf "%s\t%.2f GB\t%s\n", t, s / 1e9, a }'
