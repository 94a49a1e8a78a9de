# ENV forms, references between them, and what RUN sees.
ARG BASE
FROM $BASE
ENV A=1 B="two words" C=three\ words
ENV LEGACY legacy form value
ENV D=${A}-$B E=${UNSET:-default}
ENV PATH=/opt/bin:$PATH
ENV A=overwritten
RUN echo "$A|$B|$C|$LEGACY|$D|$E|$PATH" > /env.txt
RUN env | grep -v -e '^HOSTNAME=' -e '^SHLVL=' -e '^PWD=' -e '^_=' | sort > /env-all.txt
