# FROM with AS, --platform, ARG before FROM (used in FROM and redeclared in stages), scratch.
ARG BASE
ARG OUT_DIR=/out
FROM --platform=linux/amd64 $BASE AS build
ARG OUT_DIR
RUN mkdir -p $OUT_DIR && echo built > $OUT_DIR/file.txt

FROM scratch AS final
ARG OUT_DIR
COPY --from=build ${OUT_DIR}/file.txt /file.txt
COPY hello.txt /
