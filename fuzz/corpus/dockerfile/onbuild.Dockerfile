# ONBUILD triggers run in a child stage (RUN, COPY, ENV); the final image keeps its own trigger.
ARG BASE
FROM $BASE AS parent
ONBUILD RUN echo triggered > /triggered.txt
ONBUILD COPY trigger.txt /from-trigger.txt
ONBUILD ENV TRIGGER_ENV=yes

FROM parent AS child
RUN echo child > /child.txt

FROM child
ONBUILD RUN echo never run here
ONBUILD LABEL later=1
