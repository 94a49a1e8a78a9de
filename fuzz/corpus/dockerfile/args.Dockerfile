# ARG defaults, --build-arg overrides, global ARG redeclared, ARG without default;
# ARGs reach RUN's environment but not the image config.
ARG BASE
ARG GLOBAL=global-default
FROM $BASE
ARG GLOBAL
ARG WITH_DEFAULT=default-value
ARG OVERRIDDEN=default
ARG NO_DEFAULT
ARG FROM_CLI_ONLY
ENV FROM_ARG=$OVERRIDDEN
RUN echo "$GLOBAL|$WITH_DEFAULT|$OVERRIDDEN|${NO_DEFAULT:-unset}|$FROM_CLI_ONLY" > /args.txt
RUN env | grep -e GLOBAL -e DEFAULT -e OVERRIDDEN -e CLI -e FROM_ARG | sort > /args-env.txt
