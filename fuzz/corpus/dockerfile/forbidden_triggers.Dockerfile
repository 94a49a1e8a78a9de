FROM x
ONBUILD ONBUILD RUN x
ONBUILD FROM y
onbuild maintainer z
from
expose
copy a
