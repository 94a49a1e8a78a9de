# RUN and COPY heredocs: plain, <<- tab stripping, #! scripts, a heredoc as a
# command's stdin, variable expansion and a quoted delimiter, two heredocs in one COPY.
ARG BASE
FROM $BASE
ENV NAME=world
RUN <<EOF
echo first line > /run.txt
echo second line >> /run.txt
EOF
RUN <<-EOF
	echo tabs stripped > /tabs.txt
	EOF
RUN <<EOF
#!/bin/sh -e
echo "shebang $0" > /shebang.txt
EOF
RUN cat <<EOF > /stdin.txt
hello $NAME
EOF
COPY <<EOF /greeting.txt
hello $NAME
EOF
COPY <<"EOF" /raw.txt
hello $NAME
EOF
COPY <<one <<two /multi/
first file
one
second file
two
