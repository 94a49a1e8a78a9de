# Line continuations: comments and empty lines inside them, trailing spaces after
# the backslash, continued ENV, LABEL and exec-form JSON.
ARG BASE
FROM $BASE
RUN echo a \
# a comment inside the continuation is dropped
    b \

    c > /cont.txt
RUN echo trailing \   
    spaces > /trailing.txt
ENV X=1 \
    Y=2
LABEL first=1 \
      second=2
CMD ["/bin/echo", \
     "continued", \
     "exec"]
RUN ["/bin/sh", "-c", \
     "echo json > /json.txt"]
