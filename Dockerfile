# numapind container image. The build stage follows the README's install steps (tools/setup.sh
# installs the Debian packages and builds into build/); the runtime stage holds only the binary
# and the Debian packages of the shared libraries it links.
#
#   docker build --build-arg NUMAPIN_REVISION=$(git rev-parse --short HEAD) \
#     -t numapin/numapind:0.1.0 .
#
# The build context leaves .git out, so the revision that numapind --version and
# numapin_build_info report comes from that build argument ("unknown" without it).

FROM debian:bookworm AS build
ARG NUMAPIN_REVISION=unknown
WORKDIR /src
COPY . .
# NUMAPIN_BUILD_ONLY skips the test-only tools (npm packages, kubectl) that tools/npm-setup.sh
# installs; the image needs none of them.
RUN NUMAPIN_REVISION="$NUMAPIN_REVISION" NUMAPIN_BUILD_ONLY=1 tools/setup.sh \
    && test -x build/bin/numapind
# The runtime packages are whichever Debian packages own the libraries numapind links, so this
# list cannot fall behind the build. dpkg knows some files only by their /lib path and others
# only by their merged /usr/lib path, hence both look-ups.
RUN ldd build/bin/numapind \
    | awk '$2 == "=>" && $3 ~ /^\// {print $3}' \
    | while read -r lib; do \
        dpkg -S "$lib" 2>/dev/null || dpkg -S "$(realpath "$lib")" \
          || { echo "no Debian package owns $lib" >&2; exit 1; }; \
      done \
    | cut -d: -f1 | sort -u > /runtime-packages.txt \
    && cat /runtime-packages.txt

FROM debian:bookworm-slim
COPY --from=build /runtime-packages.txt /tmp/runtime-packages.txt
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
       ca-certificates $(cat /tmp/runtime-packages.txt) \
    && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages.txt
COPY --from=build /src/build/bin/numapind /usr/bin/numapind
# uid 0 in the host's user namespace owns the cgroup files numapind writes (deploy/CAPABILITIES.md).
USER 0:0
ENTRYPOINT ["/usr/bin/numapind"]
