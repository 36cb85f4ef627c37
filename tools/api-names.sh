#!/bin/sh
# api-names.sh [HEADER] - the public function names of lrt.h, one a line: every
# LRT_EXPORT declaration and every function-like lrt_ macro.  `make install` writes a man
# link page for each; tests/t-install.sh checks lrt.3 has an entry for each.
sed -n -e 's/^LRT_EXPORT[^(]*[^A-Za-z0-9_]\(lrt_[A-Za-z0-9_]*\)(.*/\1/p' \
       -e 's/^#[[:space:]]*define[[:space:]]\{1,\}\(lrt_[A-Za-z0-9_]*\)(.*/\1/p' \
       "${1:-include/lrt/lrt.h}" | sort -u
